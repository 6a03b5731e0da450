builtins.match "[a-c-e]" "a"
