builtins.hashFile "sha256" ./data-io/missing.txt
