builtins.parseFlakeRef "github:NixOS/nixpkgs#hello"
