builtins.ceil null
