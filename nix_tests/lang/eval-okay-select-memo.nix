# Names selected again and again from large sets (more than 32
# attributes) at the same places: from the same set, from sets that
# alternate, from fresh sets each time, with `or`, `?`, `with` and names
# missing.
let
  big = n: builtins.listToAttrs (builtins.genList (i: { name = "a${toString i}"; value = i * n; }) 40);
  sets = builtins.genList big 5;
  pick = s: s.a7;
  pickOr = s: s.missing or (s.a3 + 1);
  lib = big 1 // { extra = "x"; };
  useLib = i: "${lib.extra}${toString (lib.a5 + i)}";
  nested = n: { inner = big n; } // big (n + 1);
in {
  picks = map pick (sets ++ sets ++ [ (builtins.head sets) ]);
  ors = map pickOr sets;
  has = map (s: s ? a39) sets;
  hasNot = map (s: s ? a40) sets;
  fresh = builtins.genList (i: (big i).a2) 6;
  sameSet = builtins.genList useLib 4;
  deep = map (n: (nested n).inner.a1 + (nested n).a1) [ 1 2 3 ];
  orMissing = map (s: s.nope or "none") [ lib (big 2) ];
  withs = map (s: with lib; with s; extra + toString a7) [ (big 1) (big 2) lib (big 2) ];
  updated = map (s: (s // { a7 = "new"; }).a7) [ lib (big 3) ];
}
