# builtins.sort: stability, the lessThan fast path (numbers, strings,
# paths, lists compared lexicographically skipping equal elements), custom
# and non-strict comparators (whose results follow libstdc++'s
# std::stable_sort exactly), functors, and laziness of the elements' parts.
with builtins;
let
  keyed = n: genList (i: { k = (i * 7 + 3) - (i * 7 + 3) / 5 * 5; v = i; }) n;
  vs = map (x: x.v);
in
{
  empty = sort (a: b: throw "never called") [ ];
  one = sort (a: b: throw "never called") [ 1 ];
  ints = sort lessThan [ 483 249 526 147 42 77 ];
  descending = sort (x: y: y < x) [ 483 249 526 147 42 77 ];
  mixed = sort lessThan [ 2.5 1 3 (-1.5) 0 ];
  strings = sort lessThan [ "foo" "bar" "xyzzy" "fnord" "" "Foo" ];
  paths = sort lessThan [ /b /a/c /a ];
  lists = sort lessThan [ [ 1 6 ] [ ] [ 2 3 ] [ 3 ] [ 1 5 ] [ 2 ] [ 1 ] [ ] [ 1 4 ] [ 3 ] ];
  # Equal elements are skipped, even ones that cannot be ordered.
  equalSets = sort lessThan [ [ { a = 1; } 2 ] [ { a = 1; } 1 ] ];
  nested = sort lessThan [ [ [ 2 ] ] [ [ 1 3 ] ] [ [ 1 ] ] ];
  stable = vs (sort (a: b: a.k < b.k) (keyed 40));
  lessEq = vs (sort (a: b: a.k <= b.k) (keyed 40));
  greaterEq = vs (sort (a: b: a.k >= b.k) (keyed 23));
  always = sort (a: b: true) [ 1 2 3 4 5 6 7 8 9 10 ];
  never = sort (a: b: false) [ 3 1 2 ];
  big = let l = sort lessThan (genList (i: (i * 7919) - (i * 7919) / 1000 * 1000) 3000); in [ (head l) (elemAt l 1500) (elemAt l 2999) (length l) ];
  functor = sort { __functor = self: a: b: a > b; } [ 1 3 2 ];
  lazyParts = map (x: x.k) (sort (a: b: a.k < b.k) [ { k = 2; x = throw "lazy"; } { k = 1; x = throw "lazy"; } ]);
}
