builtins.getFlake "path:/nonexistent/oxnix-test"
