# partition, groupBy and concatMap: order kept, results lazy where C++ Nix
# keeps them lazy.
with builtins;
{
  partition = partition (x: x > 2) [ 1 2 3 4 0 5 ];
  partitionEmpty = partition (x: throw "never") [ ];
  partitionAll = partition (x: true) [ "a" "b" ];
  groupBy = groupBy (x: if x > 2 then "big" else "small") [ 1 2 3 4 1 ];
  groupByNames = groupBy (s: substring 0 1 s) [ "apple" "avocado" "banana" "cherry" "blueberry" ];
  groupByEmpty = groupBy (x: throw "never") [ ];
  groupByLazy = attrNames (groupBy (x: "k") [ (throw "lazy") (throw "lazy") ]);
  groupByLazyCount = length (groupBy (x: "k") [ (throw "lazy") (throw "lazy") ]).k;
  concatMap = concatMap (x: [ x (x * 10) ]) [ 1 2 3 ];
  concatMapEmpty = concatMap (x: [ ]) [ 1 2 3 ];
  concatMapNames = concatMap attrNames [ { a = 1; } { } { c = 1; b = 2; } ];
  concatMapLazy = length (concatMap (x: [ (throw "lazy") ]) [ 1 2 ]);
  functor = concatMap { __functor = self: x: [ x x ]; } [ 1 2 ];
}
