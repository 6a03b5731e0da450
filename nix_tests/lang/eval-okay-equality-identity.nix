let
  f = x: x;
  g = f;
  s = { inherit f; };
in
[
  (s == s)
  ([ f ] == [ f ])
  ([ f ] == [ g ])
  (builtins.elem f [ f ])
  (builtins.elem g [ f ])
  (f == f)
  ({ a = f; } == { a = f; })
  ([ (x: x) ] == [ (x: x) ])
]
