builtins.hashFile "md5" ./data-io/subdir
