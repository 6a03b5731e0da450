# An SRI hash does not take a further `algo:` prefix.
builtins.convertHash { hash = "sha256:sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="; toHashFormat = "base16"; }
