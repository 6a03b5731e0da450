# sort of integers by `a: b: a < b` (lib.sort's commonest comparator)
let l = builtins.genList (i: (i * 7919) - (i * 7919) / 100003 * 100003) 300000;
in builtins.elemAt (builtins.sort (a: b: a < b) l) 150000
