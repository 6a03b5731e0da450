# `//` of a small set and a set literal
let base = { a = 1; b = 2; c = 3; d = 4; }; in builtins.foldl' (acc: i: acc + (base // { e = i; a = 5; }).e) 0 (builtins.genList (x: x) 1000000)
