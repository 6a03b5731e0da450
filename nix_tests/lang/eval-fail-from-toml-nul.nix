# C++ Nix 2.8 truncates at the NUL; newer Nix (and oxnix) reject it.
builtins.fromTOML ''k = "a\u0000b"''
