builtins.pathExists "data-io/hello.txt"
