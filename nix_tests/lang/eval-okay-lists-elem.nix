# elem on evaluated lists (the fast path) and on lists of thunks: numbers
# across int and float, strings, paths, null, the very same function, set
# or list, equal sets and lists compared inside, and an element after the
# first equal one never forced.
let
  evaluated = l: builtins.seq (builtins.deepSeq l l) l;
  f = x: x;
  s = { a = 1; };
  l = [ 1 2 ];
  cases = l: [
    (builtins.elem 1 l)
    (builtins.elem 1.0 l)
    (builtins.elem "s" l)
    (builtins.elem ./a l)
    (builtins.elem null l)
    (builtins.elem f l)
    (builtins.elem (x: x) l)
    (builtins.elem s l)
    (builtins.elem { a = 1; } l)
    (builtins.elem { a = 2; } l)
    (builtins.elem [ 1 2 ] l)
    (builtins.elem 7 l)
    (builtins.elem (throw "never") [ ])
  ];
  mixed = [ 2.0 "t" "s" ./b ./a null f s l 1 ];
in
[
  (cases (evaluated mixed))
  (cases (map (x: x) mixed))
  (builtins.elem 2 (evaluated [ 1 2 ] ++ [ (throw "not reached") ]))
  (builtins.elem 2 (builtins.genList (i: i) 5))
]
