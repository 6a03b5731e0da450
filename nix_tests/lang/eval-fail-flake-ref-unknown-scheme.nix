builtins.parseFlakeRef "foo:bar"
