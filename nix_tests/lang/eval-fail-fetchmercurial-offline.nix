fetchMercurial { url = "/nonexistent/oxnix-test-repo"; }
