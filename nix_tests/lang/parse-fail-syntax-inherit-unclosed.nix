{ inherit (x a; }
