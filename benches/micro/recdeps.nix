# a rec set whose attributes use each other (as mergeDefinitions's), read through another set
let mk = i: rec { a = i; b = a + 1; c = if b > 2 then [ a ] else [ ]; d = c != [ ]; e = { v = b; }; };
    l = builtins.genList mk 200000;
in builtins.foldl' (acc: x: acc + x.e.v + (if x.d then 1 else 0)) 0 l
