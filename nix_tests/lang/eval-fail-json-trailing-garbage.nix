builtins.fromJSON "{\"a\":1} x"
