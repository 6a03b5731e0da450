# a builtin predicate given unevaluated list elements
let l = builtins.genList (x: if x / 2 * 2 == x then { } else x) 1000000; in builtins.length (builtins.filter builtins.isAttrs l)
