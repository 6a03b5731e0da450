fetchGit /nonexistent/oxnix-test-repo
