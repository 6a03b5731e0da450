builtins.match "a${builtins.substring 0 0 "${builtins.toFile "x" "y"}"}" "a"
