builtins.readFile ./data-io/nul.bin
