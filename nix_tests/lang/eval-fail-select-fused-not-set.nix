let f = s: s.a; in f 1
