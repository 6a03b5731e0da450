let x = throw "no"; in [ (builtins.tryEval x) (builtins.tryEval x) (builtins.tryEval (assert false; 1)) (builtins.tryEval 5) ]
