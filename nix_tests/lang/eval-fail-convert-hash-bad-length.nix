builtins.convertHash { hash = "abcd"; hashAlgo = "sha256"; toHashFormat = "base16"; }
