derivation { name = "a"; system = "x"; builder = "/b"; outputs = [ "out" "out" ]; }
