let a = b + 1; b = 2; f = n: if n == 0 then [] else [ n ] ++ f (n - 1); in { inherit a b; l = f 3; r = rec { x = y; y = 5; }; }
