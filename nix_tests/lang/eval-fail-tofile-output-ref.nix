builtins.toFile "t" "${derivation { name = "a"; system = "x"; builder = "/b"; }}"
