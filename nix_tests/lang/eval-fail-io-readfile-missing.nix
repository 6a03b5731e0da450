builtins.readFile ./data-io/missing.txt
