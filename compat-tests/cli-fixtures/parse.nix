# Most syntax forms, for --parse.
let
  a = 1;
  inherit (builtins) head;
in rec {
  inherit a;
  b = x: x.y or 2;
  c = "s${toString a}t";
  d = [ 1 2.5 "x" null true ];
  e = { f = 1; }.f;
  g = { h, i ? 3, ... }@args: with args; h + i;
  j = assert true; ./rel/path;
  k = <nixpkgs>;
  l = -a;
  m = !false;
  n = d ? x;
  o = if a == 1 then a else 0;
  p = a + a - a * a / a;
  q = [ 1 ] ++ [ 2 ];
  r = { } // { };
  s = ''
    indented ${"string"}
  '';
  t = http://example.org/x;
  u = a < 2 && a > 0 || a <= 1 -> a >= 1;
  v = let w = 1; in w;
  "quoted attr" = 1;
  ${"dyn"} = 2;
}
