builtins.hashString "sha256${builtins.substring 0 0 "${builtins.toFile "x" "y"}"}" "a"
