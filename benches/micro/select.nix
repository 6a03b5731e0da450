# a three-step attribute path
let s = { x = { y = { z = 1; }; }; }; in builtins.foldl' (acc: i: acc + s.x.y.z + i) 0 (builtins.genList (x: x) 2000000)
