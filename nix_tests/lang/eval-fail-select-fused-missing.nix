let set = { a = 1; ab = 2; }; f = s: s.b; in builtins.seq set (f set)
