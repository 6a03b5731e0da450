builtins.split "*a" "a"
