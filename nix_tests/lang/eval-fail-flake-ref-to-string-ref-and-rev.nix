builtins.flakeRefToString { type = "github"; owner = "o"; repo = "r"; ref = "main"; rev = "0123456789abcdef0123456789abcdef01234567"; }
