builtins.parseDrvName "a-${builtins.toFile "x" "y"}"
