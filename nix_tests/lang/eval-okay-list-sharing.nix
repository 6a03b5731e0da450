# Lists are flat arrays: `++` with an empty side, `tail`, `concatLists`
# and the loops over long lists keep values (a function compares equal to
# itself inside a list only when it is the same value).
let
  f = x: x;
  l = [ f ];
  e = [ ];
  squares = builtins.genList (i: i * i) 5000;
in
[
  ((l ++ e) == l)
  ((e ++ l) == l)
  ((builtins.tail ([ 1 ] ++ l)) == l)
  ((l ++ l) == [ f f ])
  (builtins.length (e ++ e))
  ((builtins.concatLists [ l e ]) == l)
  (builtins.elemAt squares 4999)
  (builtins.length (builtins.filter (x: x > 2) [ 1 2 3 4 ]))
  (builtins.foldl' (a: b: a + b) 0 squares)
  (builtins.tail (builtins.tail [ 1 2 3 ]))
  (builtins.length (builtins.tail squares))
  (builtins.head (builtins.sort (a: b: a > b) squares))
]
