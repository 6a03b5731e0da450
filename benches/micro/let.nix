# let bindings naming each other
builtins.foldl' (acc: i: let a = i + 1; b = a * 2; c = b - a; in acc + c) 0 (builtins.genList (x: x) 1000000)
