# placeholder, hashString, parseDrvName and baseNameOf on evaluated
# arguments (their fast paths) and on arguments still to evaluate, with
# a base name keeping its context.
let
  f = builtins.toFile "f" "x";
  later = s: if builtins.length [ s ] == 1 then s else "";
in
[
  (builtins.placeholder "out")
  (builtins.placeholder (later "dev"))
  (builtins.hashString "sha256" "abc")
  (builtins.hashString (later "md5") (later "abc"))
  (builtins.parseDrvName "hello-2.10-x")
  (builtins.parseDrvName (later "hello"))
  (map builtins.parseDrvName [ "a-1" "b-c-2" "d-" ])
  (builtins.baseNameOf "/a/b/")
  (builtins.baseNameOf (later "/a/b/c.nix"))
  (builtins.baseNameOf ./a/b)
  (builtins.attrNames (builtins.getContext (builtins.baseNameOf "${f}")) == [ f ])
]
