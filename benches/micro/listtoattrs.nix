# listToAttrs of twenty name/value pairs, evaluated once and made into a set again and again
let pairs = map (n: { name = "n${toString n}"; value = n; }) (builtins.genList (i: i) 20); in builtins.foldl' (a: i: a + (builtins.listToAttrs pairs).n7) 0 (builtins.genList (i: i) 100000)
