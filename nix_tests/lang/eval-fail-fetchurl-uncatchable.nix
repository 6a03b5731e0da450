# Not a `throw`: tryEval does not hide it.
builtins.tryEval (builtins.fetchurl "file:///nonexistent/oxnix-test-file")
