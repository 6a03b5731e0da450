builtins.convertHash { hash = "md5:${builtins.hashString "md5" ""}"; hashAlgo = "sha1"; toHashFormat = "sri"; }
