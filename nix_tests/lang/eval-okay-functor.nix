let s = { __functor = self: x: x + self.n; n = 10; }; in [ (s 5) (builtins.map s [ 1 2 ]) ]
