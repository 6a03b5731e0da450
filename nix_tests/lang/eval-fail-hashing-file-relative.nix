builtins.hashFile "md5" "data-io/hello.txt"
