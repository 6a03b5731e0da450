# `x.a` of a variable, read straight from the scope when the set and the
# attribute are evaluated, and the long way when they are not.
let
  set = { a = 1; b = { c = 2; }; d = throw "unused"; };
  lazy = { a = set.a + 1; };
  f = s: s.a;
  g = s: s.b.c;
  h = s: [ s.a s.b ];
  withDefault = s: s.z or "none";
  forced = builtins.seq set.b set;
in
[
  set.a
  set.b.c
  lazy.a
  lazy.a
  (f set)
  (f lazy)
  (f { a = "direct"; })
  (g set)
  (g forced)
  (h set)
  (withDefault set)
  (withDefault { z = "z"; })
  (let x = set; in x.b.c)
]
