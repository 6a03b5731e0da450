builtins.readDir ./data-io/hello.txt
