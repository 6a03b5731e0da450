builtins.replaceStrings [ 1 ] [ "b" ] "abc"
