# C++ Nix 2.8 clamps; newer Nix (and oxnix) reject the overflow.
builtins.fromTOML "a = 9223372036854775808"
