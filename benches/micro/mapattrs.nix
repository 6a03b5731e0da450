# a large set made by listToAttrs, mapped, then every attribute selected by a dynamic name
let s = builtins.listToAttrs (builtins.genList (i: { name = "n${toString i}"; value = i; }) 100000); t = builtins.mapAttrs (n: v: v * 2) s; in builtins.foldl' (a: n: a + t.${n}) 0 (builtins.attrNames t)
