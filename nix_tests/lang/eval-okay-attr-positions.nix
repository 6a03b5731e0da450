let
  pos = n: s: let p = builtins.unsafeGetAttrPos n s; in if p == null then null else [ p.line p.column ];
  a = { x = 1; y.z = 2; };
  b = a // { y = 3; };
  r = rec { u = 1; v = u; ${"w"} = 2; };
  f = { p, q ? 1 }: p;
in [
  (pos "x" a) (pos "y" a) (pos "z" a.y) (pos "x" b) (pos "y" b)
  (pos "u" r) (pos "w" r) (pos "q" (builtins.functionArgs f))
  (pos "x" (removeAttrs a [ "y" ])) (pos "y" (removeAttrs a [ "y" ]))
  (pos "x" (builtins.mapAttrs (n: v: v) a)) (pos "nope" a)
  (pos "x" ({ } // a)) (pos "y" (b // { }))
]
