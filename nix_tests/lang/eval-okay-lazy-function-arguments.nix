# map and genList force their function only when an element is forced;
# C++ Nix 2.8 makes the thunks without checking it.
[
  (builtins.length (builtins.map 1 [ 1 2 ]))
  (builtins.length (builtins.genList 1 2))
  (builtins.length (builtins.map (throw "f") [ 1 ]))
  (builtins.tryEval (builtins.map (x: throw "a") [ 1 ])).success
  (builtins.tryEval (builtins.head (builtins.map (x: throw "a") [ 1 ]))).success
]
