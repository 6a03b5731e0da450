# a rec set per iteration
builtins.foldl' (acc: i: acc + (rec { a = i; b = a + 1; c = b + a; }).c) 0 (builtins.genList (x: x) 1000000)
