# String contexts of derivation attributes as C++ Nix 2.8 reports them.
let
  d = derivation { name = "a"; system = "x"; builder = "/b"; outputs = [ "out" "dev" ]; };
  t = builtins.toFile "t" "refers to ${builtins.unsafeDiscardOutputDependency d.drvPath}";
in
[
  (builtins.getContext d.drvPath)
  (builtins.getContext d.outPath)
  (builtins.getContext "${d.dev}${d}")
  (builtins.getContext (builtins.substring 0 3 d.outPath))
  (builtins.hasContext (builtins.unsafeDiscardStringContext d.outPath))
  (builtins.getContext (builtins.unsafeDiscardOutputDependency d.drvPath))
  (builtins.getContext (toString [ d d.dev ]))
  (builtins.getContext (builtins.concatStringsSep "," [ d.dev "x" ]))
  (builtins.getContext (builtins.replaceStrings [ "x" ] [ d.dev.outPath ] "axb"))
  (builtins.getContext (builtins.toJSON { a = d; }))
  (builtins.getContext t)
  t
  (builtins.attrNames d)
  (d.drvPath == "${d.drvPath}")
  (builtins.placeholder "out")
]
