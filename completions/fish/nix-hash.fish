complete -c nix-hash -l type -d 'Hash algorithm: md5 (default), sha1, sha256 or sha512' -r -f -a "md5\t''
sha1\t''
sha256\t''
sha512\t''"
complete -c nix-hash -l log-format -d 'Format of log output: raw, internal-json, bar or bar-with-logs' -r
complete -c nix-hash -l option -d 'Set the Nix configuration setting NAME to VALUE (overriding nix.conf)' -r
complete -c nix-hash -s j -l max-jobs -d 'Maximum number of parallel builds (accepted; oxnix does not build)' -r
complete -c nix-hash -l cores -d 'Cores a builder may use (accepted; oxnix does not build)' -r
complete -c nix-hash -l max-silent-time -d 'Build silence limit (accepted; oxnix does not build)' -r
complete -c nix-hash -l timeout -d 'Build time limit (accepted; oxnix does not build)' -r
complete -c nix-hash -l store -d 'The store: C++ Nix\'s auto, local, local?root=DIR (or a plain DIR), daemon or unix:///SOCKET; or oxnix\'s own memory://, sled:///PATH, grpc+http://HOST:PORT, grpc+unix:///PATH. Default: oxnix\'s store when $OXNIX_STORE or $OXNIX_STORE_DIR is set, else $NIX_REMOTE, else auto where Nix is installed (its state directory or daemon socket exists), else oxnix\'s sled store' -r
complete -c nix-hash -l version -d 'Print the version (C++ Nix\'s line, then oxnix\'s)'
complete -c nix-hash -l flat -d 'Hash the contents of a regular file instead of its NAR serialisation'
complete -c nix-hash -l truncate -d 'Fold the hash to 160 bits by XOR (as store path hashes)'
complete -c nix-hash -l base16 -d 'Print the hash in base-16 (the default)'
complete -c nix-hash -l base32 -d 'Print the hash in Nix\'s base-32'
complete -c nix-hash -l base64 -d 'Print the hash in base-64'
complete -c nix-hash -l sri -d 'Print the hash in SRI form (algo-base64)'
complete -c nix-hash -l to-base16 -d 'Convert the given hashes to base-16'
complete -c nix-hash -l to-base32 -d 'Convert the given hashes to Nix\'s base-32'
complete -c nix-hash -l to-base64 -d 'Convert the given hashes to base-64'
complete -c nix-hash -l to-sri -d 'Convert the given hashes to SRI form'
complete -c nix-hash -s v -l verbose -d 'Increase the logging verbosity level'
complete -c nix-hash -l quiet -d 'Decrease the logging verbosity level'
complete -c nix-hash -l debug -d 'Set the logging verbosity level to \'debug\''
complete -c nix-hash -s Q -l no-build-output -d 'Do not show build output (accepted; oxnix does not build)'
complete -c nix-hash -s K -l keep-failed -d 'Keep temporary directories of failed builds (accepted; oxnix does not build)'
complete -c nix-hash -s k -l keep-going -d 'Keep going after a build fails (accepted; oxnix does not build)'
complete -c nix-hash -l fallback -d 'Build from source if substitution fails (accepted; oxnix does not build)'
complete -c nix-hash -l readonly-mode -d 'Do not write to the store (accepted)'
complete -c nix-hash -l no-gc-warning -d 'Disable the warning about a missing --add-root'
complete -c nix-hash -s h -l help -d 'Print help'
