# baseline of every file here: foldl' over a genList of a million (a call and a forced element each)
builtins.foldl' (acc: i: acc + i) 0 (builtins.genList (x: x) 1000000)
