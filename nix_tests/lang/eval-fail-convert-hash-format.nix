builtins.convertHash { hash = builtins.hashString "md5" ""; hashAlgo = "md5"; toHashFormat = "base58"; }
