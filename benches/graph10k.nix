# 10,000 derivations, each depending on the two before it.
let
  n = 10000;
  mk = i: derivation {
    name = "node-${toString i}";
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "echo ${toString i} > $out" ];
    deps = if i < 2 then [ ] else [ (nodes.${toString (i - 1)}) (nodes.${toString (i - 2)}) ];
  };
  nodes = builtins.listToAttrs (builtins.genList (i: { name = toString i; value = mk i; }) n);
in nodes.${toString (n - 1)}
