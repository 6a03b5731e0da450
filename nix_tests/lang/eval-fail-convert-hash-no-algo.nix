builtins.convertHash { hash = builtins.hashString "md5" ""; toHashFormat = "sri"; }
