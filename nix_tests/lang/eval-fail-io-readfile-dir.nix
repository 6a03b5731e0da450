builtins.readFile ./data-io/subdir
