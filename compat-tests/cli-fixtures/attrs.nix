# Nested sets, functions at several levels, lists, an attribute named "a.b".
{
  a = {
    b = {
      c = 1;
      d = "deep";
    };
    e = [ 10 20 ];
  };
  "a.b" = "dotted";
  x = {
    "a.b" = 2;
    a = { b = 3; };
    "" = "empty name";
  };
  xs = [ 1 "two" { three = 3; } [ 4 5 ] ];
  f = { k ? 5 }: {
    h = k;
    g = { m ? 7 }: { sum = k + m; };
  };
  g = { z ? "z" }: z;
  needs = { req }: req;
  plain = x: x;
  s = "str";
  i = 42;
  fl = 1.5;
  t = true;
  nul = null;
  p = ./fun.nix;
  empty = { };
  nested = { deeper = { deepest = { v = "bottom"; }; }; };
}
