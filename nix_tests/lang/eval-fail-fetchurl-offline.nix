builtins.fetchurl "file:///nonexistent/oxnix-test-file"
