builtins.hashFile "sha256${builtins.substring 0 0 "${builtins.toFile "x" "y"}"}" ./eval-fail-strings-hashfile-algo-context.nix
