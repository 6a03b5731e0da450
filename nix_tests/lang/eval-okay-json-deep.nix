# Deep nesting in both directions needs no deep native stack.
let
  n = 20000;
  open = builtins.concatStringsSep "" (builtins.genList (x: "[") n);
  close = builtins.concatStringsSep "" (builtins.genList (x: "]") n);
  deep = builtins.fromJSON (open + close);
  chain = builtins.foldl' (tail: head: { inherit head tail; }) null (builtins.genList (x: x) n);
in
[
  (builtins.length deep)
  (builtins.stringLength (builtins.toJSON deep))
  (builtins.stringLength (builtins.toJSON chain))
  (builtins.toJSON (builtins.fromJSON (builtins.toJSON chain)) == builtins.toJSON chain)
]
