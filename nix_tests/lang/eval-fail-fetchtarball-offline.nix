fetchTarball { url = "file:///nonexistent/oxnix-test.tar.gz"; }
