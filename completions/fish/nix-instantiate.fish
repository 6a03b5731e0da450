complete -c nix-instantiate -l add-root -d 'Make PATH a symlink to each .drv (PATH, PATH-2, …) and print it' -r -F
complete -c nix-instantiate -l store -d 'The store to write to (default: $OXNIX_STORE, else the local sled store)' -r
complete -c nix-instantiate -l extra-experimental-features -d 'Enable experimental features (so far: parse-toml-timestamps)' -r
complete -c nix-instantiate -l lint-short-path-literals -d 'Report relative path literals without ./ (warn or fatal)' -r -f -a "warn\t''
fatal\t''"
complete -c nix-instantiate -l lint-absolute-path-literals -d 'Report absolute and ~/ path literals (warn or fatal)' -r -f -a "warn\t''
fatal\t''"
complete -c nix-instantiate -l lint-url-literals -d 'Report URL literals (warn or fatal)' -r -f -a "warn\t''
fatal\t''"
complete -c nix-instantiate -s A -l attr -d 'Select an attribute of the result (a.b.0.c)' -r
complete -c nix-instantiate -l arg -d 'Pass NAME = EXPR to a function result' -r
complete -c nix-instantiate -l argstr -d 'Pass NAME = STRING to a function result' -r
complete -c nix-instantiate -s I -d 'Add a search path entry (name=path or path)' -r
complete -c nix-instantiate -l eval -d 'Evaluate and print the result instead of instantiating'
complete -c nix-instantiate -l eval-only -d 'Old name of --eval'
complete -c nix-instantiate -l parse -d 'Parse the input only'
complete -c nix-instantiate -l strict -d 'Evaluate the result completely (with --eval)'
complete -c nix-instantiate -l json -d 'Print the result as JSON'
complete -c nix-instantiate -l xml -d 'Print the result as XML'
complete -c nix-instantiate -l no-location -d 'Omit locations in XML output'
complete -c nix-instantiate -l indirect -d 'Accepted for compatibility (roots are symlinks)'
complete -c nix-instantiate -l dry-run -d 'Evaluate and print the .drv paths without writing to the store'
complete -c nix-instantiate -l find-file -d 'Look the arguments up in the search path'
complete -c nix-instantiate -l show-trace -d 'Show the evaluation trace on errors'
complete -c nix-instantiate -l no-show-trace -d 'Show errors without the trace (the default)'
complete -c nix-instantiate -l read-write-mode -d 'Allow writing to the store during evaluation'
complete -c nix-instantiate -l impure -d 'Accepted for compatibility (evaluation is not sandboxed)'
complete -c nix-instantiate -l trace-verbose -d 'Make builtins.traceVerbose print its message'
complete -c nix-instantiate -s E -l expr -d 'Treat the arguments as Nix expressions'
complete -c nix-instantiate -s h -l help -d 'Print help'
complete -c nix-instantiate -s V -l version -d 'Print version'
