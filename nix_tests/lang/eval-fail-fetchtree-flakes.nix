# With the experimental feature flakes, fetchTree still cannot fetch.
builtins.fetchTree { type = "path"; path = "/nonexistent/oxnix-test"; }
