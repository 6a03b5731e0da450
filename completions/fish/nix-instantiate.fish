complete -c nix-instantiate -l add-root -d 'Make PATH a symlink to each .drv (PATH, PATH-2, …) and print it' -r -F
complete -c nix-instantiate -l lint-short-path-literals -d 'Report relative path literals without ./ (warn or fatal; newer Nix)' -r -f -a "warn\t''
fatal\t''"
complete -c nix-instantiate -l lint-absolute-path-literals -d 'Report absolute and ~/ path literals (warn or fatal; newer Nix)' -r -f -a "warn\t''
fatal\t''"
complete -c nix-instantiate -l lint-url-literals -d 'Report URL literals (warn or fatal; newer Nix)' -r -f -a "warn\t''
fatal\t''"
complete -c nix-instantiate -s A -l attr -d 'Select an attribute of the result (a.b.0.c, x."a.b"); repeatable, each printed' -r
complete -c nix-instantiate -l log-format -d 'Format of log output: raw, internal-json, bar or bar-with-logs' -r
complete -c nix-instantiate -l option -d 'Set the Nix configuration setting NAME to VALUE (overriding nix.conf)' -r
complete -c nix-instantiate -s j -l max-jobs -d 'Maximum number of parallel builds (accepted; oxnix does not build)' -r
complete -c nix-instantiate -l cores -d 'Cores a builder may use (accepted; oxnix does not build)' -r
complete -c nix-instantiate -l max-silent-time -d 'Build silence limit (accepted; oxnix does not build)' -r
complete -c nix-instantiate -l timeout -d 'Build time limit (accepted; oxnix does not build)' -r
complete -c nix-instantiate -l store -d 'The store: C++ Nix\'s auto, local, local?root=DIR (or a plain DIR), daemon or unix:///SOCKET; or oxnix\'s own memory://, sled:///PATH, grpc+http://HOST:PORT, grpc+unix:///PATH. Default: oxnix\'s store when $OXNIX_STORE or $OXNIX_STORE_DIR is set, else $NIX_REMOTE, else auto where Nix is installed (its state directory or daemon socket exists), else oxnix\'s sled store' -r
complete -c nix-instantiate -l arg -d 'Pass NAME = EXPR to a function result' -r
complete -c nix-instantiate -l argstr -d 'Pass NAME = STRING to a function result' -r
complete -c nix-instantiate -s I -l include -d 'Add a search path entry (NAME=PATH or PATH) before those of the nix-path setting and $NIX_PATH' -r
complete -c nix-instantiate -l override-flake -d 'Override a flake registry entry (accepted; unused here)' -r
complete -c nix-instantiate -l eval-store -d 'The store for evaluation results (accepted; unused here)' -r
complete -c nix-instantiate -l version -d 'Print the version (C++ Nix\'s line, then oxnix\'s)'
complete -c nix-instantiate -l eval -d 'Evaluate and print the result instead of instantiating'
complete -c nix-instantiate -l eval-only -d 'Old name of --eval'
complete -c nix-instantiate -l parse -d 'Parse the input only and print it in normal form'
complete -c nix-instantiate -l parse-only -d 'Old name of --parse'
complete -c nix-instantiate -l strict -d 'Evaluate the result completely (with --eval)'
complete -c nix-instantiate -l json -d 'Print the result as JSON (the last of --json and --xml counts)'
complete -c nix-instantiate -l xml -d 'Print the result as XML (the last of --json and --xml counts)'
complete -c nix-instantiate -l no-location -d 'Omit locations in XML output'
complete -c nix-instantiate -l indirect -d 'Accepted for compatibility (roots are symlinks)'
complete -c nix-instantiate -l dry-run -d 'Evaluate and print the .drv paths without writing to the store'
complete -c nix-instantiate -l repair -d 'Accepted for compatibility'
complete -c nix-instantiate -l find-file -d 'Look the arguments up in the search path'
complete -c nix-instantiate -l read-write-mode -d 'Allow writing to the store during evaluation'
complete -c nix-instantiate -l trace-verbose -d 'Make builtins.traceVerbose print its message (newer Nix)'
complete -c nix-instantiate -s E -l expr -d 'Treat the arguments as Nix expressions'
complete -c nix-instantiate -s v -l verbose -d 'Increase the logging verbosity level'
complete -c nix-instantiate -l quiet -d 'Decrease the logging verbosity level'
complete -c nix-instantiate -l debug -d 'Set the logging verbosity level to \'debug\''
complete -c nix-instantiate -s Q -l no-build-output -d 'Do not show build output (accepted; oxnix does not build)'
complete -c nix-instantiate -s K -l keep-failed -d 'Keep temporary directories of failed builds (accepted; oxnix does not build)'
complete -c nix-instantiate -s k -l keep-going -d 'Keep going after a build fails (accepted; oxnix does not build)'
complete -c nix-instantiate -l fallback -d 'Build from source if substitution fails (accepted; oxnix does not build)'
complete -c nix-instantiate -l readonly-mode -d 'Do not write to the store (accepted)'
complete -c nix-instantiate -l no-gc-warning -d 'Disable the warning about a missing --add-root'
complete -c nix-instantiate -l impure -d 'Allow access to mutable paths (the default for these commands)'
complete -c nix-instantiate -s h -l help -d 'Print help'
