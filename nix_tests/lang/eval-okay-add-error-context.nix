[ (builtins.addErrorContext (throw "never evaluated") 1) (builtins.tryEval (builtins.addErrorContext "c" (throw "x"))) (builtins.addErrorContext "c" { a = 2; }).a ]
