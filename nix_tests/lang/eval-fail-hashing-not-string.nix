builtins.hashString "sha256" ./data-io/hello.txt
