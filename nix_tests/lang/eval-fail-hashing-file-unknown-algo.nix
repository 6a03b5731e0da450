builtins.hashFile "crc32" ./data-io/hello.txt
