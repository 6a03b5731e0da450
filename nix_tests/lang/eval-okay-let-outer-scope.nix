# Bindings of a `let` or `rec` set that name none of their siblings are
# made in the enclosing scope; these must still see exactly what Nix's
# scoping rules give them.
let
  x = 1;
  outer = with { y = 10; z = 20; }; let
    # No sibling named: enclosing scope (the `with` included).
    a = x + y;
    f = n: n + x;
    # Names a sibling through an attribute path only (not a variable).
    g = { b = 5; }.b + x;
    s = "${toString x}-${toString y}";
    # Names siblings.
    b = a + 1;
    h = n: f n + b;
    # A sibling shadows the `with`.
    z = 3;
    w = z * 2;
    # Inherit from the enclosing scope and from a sibling.
    inherit x;
    set = { inherit a; c = g; };
  in [ a (f 2) g s b (h 1) z w x set.a set.c ];
  recSet = rec {
    p = 1 + 1;
    q = p + 1;
    r = k: k + p;
    u = { p = 7; }.p;
    v = let p = 100; in p + 1;
  };
  overridden = rec {
    __overrides = { m = 42; };
    m = 1;
    n = m + 1;
    o = 2 + 3;
  };
  # A lambda argument of a sibling's name (over-approximated, still right).
  shadow = let k = 2; l = k: k * 3; in l 5 + k;
  # Deep nesting, each level naming the one above it.
  deep = let a = 1; in let b = a + 1; in let c = b + 1; d = 4 + 5; in [ a b c d ];
  fix = let xs = [ 1 (builtins.head xs) ]; in xs;
in [ outer recSet.p recSet.q (recSet.r 1) recSet.u recSet.v overridden.m overridden.n overridden.o shadow deep fix ]
