builtins.compareVersions "1${builtins.substring 0 0 "${builtins.toFile "x" "y"}"}" "2"
