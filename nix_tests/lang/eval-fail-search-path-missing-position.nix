<oxnix-nonexistent-entry>
