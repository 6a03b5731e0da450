# Applications of two and more arguments at once (`f a b …`): curried
# functions, functions taking sets, builtins of two and three arguments,
# partial applications, functors, and functions that are themselves the
# result of a call or a thunk.
let
  add3 = a: b: c: a + b + c;
  pair = a: { x, y ? 10 }: a + x + y;
  withSet = { k }: v: k + v;
  twice = f: x: f (f x);
  functor = { __functor = self: a: b: self.base + a * b; base = 100; };
  partial = builtins.elemAt [ 5 6 7 ];
  lazyFst = a: b: a;
  pick = if true then (a: b: b) else null;
  apply2 = f: f 1 2;
in
[
  (add3 1 2 3)
  (add3 "a" "b" "c")
  ((add3 1) 2 3)
  ((add3 1 2) 3)
  (pair 1 { x = 2; })
  (pair 1 { x = 2; y = 3; })
  (withSet { k = 4; } 5)
  (twice (x: x * 3) 2)
  (twice twice (x: x + 1) 0)
  (functor 2 3)
  (partial 1)
  (builtins.elemAt [ 1 2 3 ] 2)
  (builtins.hasAttr "a" { a = 1; })
  (builtins.getAttr "b" { b = 2; })
  (builtins.foldl' (a: b: a * 10 + b) 0 [ 1 2 3 ])
  (builtins.map (x: x + 1) [ 1 2 ])
  (builtins.filter (x: x > 1) [ 1 2 3 ])
  (builtins.genList (i: i * i) 4)
  (builtins.concatStringsSep "-" [ "a" "b" ])
  (builtins.sub 10 3)
  (builtins.add 1.5 2)
  (builtins.lessThan 1 2)
  (builtins.replaceStrings [ "a" ] [ "b" ] "banana")
  (builtins.substring 1 3 "abcdef")
  (lazyFst 1 (throw "not evaluated"))
  (pick (throw "not evaluated") 7)
  (apply2 (a: b: a - b))
  (apply2 builtins.sub)
  (apply2 (a: b: { c = a + b; }))
  ((x: y: z: [ x y z ]) 1 2 3)
  (builtins.mapAttrs (n: v: n + v) { a = "1"; b = "2"; })
  (builtins.intersectAttrs { a = 0; } { a = 1; b = 2; })
]
