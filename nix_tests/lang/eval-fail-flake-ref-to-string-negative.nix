builtins.flakeRefToString { type = "path"; path = "/p"; revCount = -1; }
