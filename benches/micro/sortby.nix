# sort with a comparator that selects an attribute (mkOrder-style priorities)
let l = builtins.genList (i: { priority = (i * 7919) - (i * 7919) / 1000 * 1000; v = i; }) 100000;
    cmp = a: b: (a.priority or 1000) < (b.priority or 1000);
in (builtins.head (builtins.sort cmp l)).v
