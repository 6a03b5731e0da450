# `++` of a growing list (quadratic copying, as in C++ Nix)
builtins.length (builtins.foldl' (acc: i: acc ++ [ i ]) [ ] (builtins.genList (x: x) 5000))
