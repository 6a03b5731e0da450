# warn takes a string message only.
builtins.warn { msg = "x"; } 1
