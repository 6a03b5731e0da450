builtins.parseFlakeRef "github:NixOS/nixpkgs/$bad"
