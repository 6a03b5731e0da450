builtins.genericClosure { startSet = [ ]; operator = throw "the operator is forced"; }
