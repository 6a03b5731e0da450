# variables found through `with`
let s = { p = 1; q = 2; }; in builtins.foldl' (acc: i: with s; acc + p + q + i) 0 (builtins.genList (x: x) 1000000)
