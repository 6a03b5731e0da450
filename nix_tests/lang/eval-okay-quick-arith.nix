# Small integer functions (`x: x * 3`, `a: b: a + b`) that the VM runs
# without a frame when their operands are evaluated integers, next to the
# cases that must take the ordinary path: other types, other shapes,
# variables from an outer scope, shared thunks forced by the loop first.
let
  k = 5;
  xs = builtins.genList (x: x * 3) 10;
  ys = map (x: x + k) xs;
  shared = builtins.genList (x: k - x) 4;
  mixed = builtins.genList (x: if x == 2 then 2.5 else x) 4;
  cmp = builtins.sort (a: b: a < b) [ 5 3 9 1 ];
in
[
  (builtins.foldl' (a: b: a + b) 0 xs)
  (builtins.foldl' (a: b: a - b) 100 ys)
  (builtins.foldl' (a: b: b * a) 1 (builtins.genList (x: x + 1) 10))
  (builtins.foldl' (a: b: a + b) 0 shared)
  shared
  (builtins.foldl' (a: b: a + b) 0 mixed)
  (builtins.foldl' (a: b: a + k * b) 0 xs)
  (builtins.foldl' (a: b: a < b) 0 [ 1 ])
  (builtins.foldl' (a: b: a + b) 0 [ ])
  (builtins.foldl' (a: b: a ++ [ b ]) [ ] (builtins.genList (x: x * x) 4))
  (map (x: x == 6) xs)
  cmp
  xs
  ys
]
