# `let` and `rec` scopes whose closures escape into a set that is dropped right after (a cycle each)
builtins.foldl' (acc: i: acc + (let f = x: if x == 0 then i else g (x - 1); g = x: f x; in { inherit f; }).f 3 + (rec { a = i; f = x: x + a; }).f 1) 0 (builtins.genList (x: x) 1000000)
