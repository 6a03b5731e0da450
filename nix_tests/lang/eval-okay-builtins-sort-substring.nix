# sort by lessThan itself (integers only, strings only, mixed numbers,
# lists, elements to evaluate first, equal strings with different
# contexts kept in order) and substring on evaluated and unevaluated
# arguments, with context kept.
let
  f = builtins.toFile "f" "x";
  withCtx = "a${builtins.substring 0 0 f}";
in
[
  (builtins.sort builtins.lessThan [ 3 1 2 (-5) 9 0 3 ])
  (builtins.sort builtins.lessThan [ "b" "a" "" "ab" "B" "a" ])
  (builtins.sort builtins.lessThan [ 3 1.5 2 (-1) ])
  (builtins.sort builtins.lessThan [ [ 2 ] [ 1 3 ] [ 1 ] [ ] ])
  (builtins.sort builtins.lessThan [ (1 + 1) (0 - 1) 1 ])
  (map (s: builtins.getContext s != { }) (builtins.sort builtins.lessThan [ "b" withCtx "a" ]))
  (map (builtins.substring 1 3) [ "hello" "" "ab" ])
  (builtins.substring 0 (-1) "hello")
  (builtins.substring 10 2 "hello")
  (builtins.substring (1 + 1) (0 + 2) ("hel" + "lo"))
  (builtins.substring 1 2 "${f}" == builtins.substring 1 2 (toString f))
  (builtins.attrNames (builtins.getContext (builtins.substring 0 0 "${f}")) == [ f ])
]
