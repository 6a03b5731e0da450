# a curried three-argument call inside a one-argument one
let f = a: b: c: a + b + c; g = x: f x x x; in builtins.foldl' (acc: i: acc + g i) 0 (builtins.genList (x: x) 1000000)
