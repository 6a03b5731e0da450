# how a module system calls a module: functionArgs, intersectAttrs, then a call with formals
let f = { config, lib, name ? "x", ... }: { x = 1; };
    args = { config = 1; lib = 2; options = 3; pkgs = 4; modulesPath = 5; name = "n"; };
    l = builtins.genList (i: (f (builtins.intersectAttrs (builtins.functionArgs f) args)).x) 200000;
in builtins.foldl' (a: b: a + b) 0 l
