# zipAttrsWith, catAttrs, intersectAttrs and functionArgs.
with builtins;
{
  zip = zipAttrsWith (name: values: { inherit name values; }) [ { a = 1; b = 2; } { a = 3; } { } { c = 4; a = 5; } ];
  zipEmpty = zipAttrsWith (n: v: throw "never") [ ];
  zipLazy = attrNames (zipAttrsWith (n: v: throw "lazy") [ { x = 1; } { y = 2; } ]);
  zipLazyValues = zipAttrsWith (n: v: length v) [ { x = throw "lazy"; } { x = throw "lazy"; } ];
  catAttrs = catAttrs "a" [ { a = 1; } { b = 0; } { a = 2; } ];
  catAttrsLazy = length (catAttrs "a" [ { a = throw "lazy"; } { a = throw "lazy"; } ]);
  intersect = intersectAttrs { a = 1; b = 2; } { b = 3; c = 4; };
  intersectBig = intersectAttrs { a = 1; b = 2; c = 5; d = 3; } { b = 3; c = 4; };
  intersectEmpty = intersectAttrs { } { a = 1; };
  intersectLazy = attrNames (intersectAttrs { a = throw "lazy"; } { a = throw "lazy"; });
  formals = functionArgs ({ a, b ? 1, c ? throw "lazy", ... }: a);
  formalsAt = functionArgs ({ x, ... }@args: x);
  noFormals = functionArgs ({ }: 1);
  plain = functionArgs (x: x);
  builtin = functionArgs map;
  partial = functionArgs (map (x: x));
}
