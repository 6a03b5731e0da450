builtins.fetchTree { type = "path"; path = "/nonexistent/oxnix-test"; }
