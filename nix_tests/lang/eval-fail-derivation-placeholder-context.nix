builtins.placeholder "${builtins.toFile "x" "y"}"
