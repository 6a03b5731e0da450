# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_oxnix_global_optspecs
    string join \n h/help V/version
end

function __fish_oxnix_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_oxnix_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_oxnix_using_subcommand
    set -l cmd (__fish_oxnix_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c oxnix -n "__fish_oxnix_needs_command" -s h -l help -d 'Print help'
complete -c oxnix -n "__fish_oxnix_needs_command" -s V -l version -d 'Print version'
complete -c oxnix -n "__fish_oxnix_needs_command" -f -a "nix-hash" -d 'Compute the cryptographic hash of a path, or convert a hash between encodings'
complete -c oxnix -n "__fish_oxnix_needs_command" -f -a "nix-store" -d 'Manipulate or query the Nix store (oxnix: its own content-addressed store)'
complete -c oxnix -n "__fish_oxnix_needs_command" -f -a "nix-instantiate" -d 'Instantiate store derivations from Nix expressions, or evaluate them (--eval)'
complete -c oxnix -n "__fish_oxnix_needs_command" -f -a "store" -d 'Serve oxnix\'s store: a gRPC daemon, or a FUSE mount'
complete -c oxnix -n "__fish_oxnix_needs_command" -f -a "gen-docs" -d 'Generate shell completions and man pages for the oxnix commands'
complete -c oxnix -n "__fish_oxnix_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l type -d 'Hash algorithm: md5 (default), sha1, sha256 or sha512' -r -f -a "md5\t''
sha1\t''
sha256\t''
sha512\t''"
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l log-format -d 'Format of log output: raw, internal-json, bar or bar-with-logs' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l option -d 'Set the Nix configuration setting NAME to VALUE (overriding nix.conf)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -s j -l max-jobs -d 'Maximum number of parallel builds (accepted; oxnix does not build)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l cores -d 'Cores a builder may use (accepted; oxnix does not build)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l max-silent-time -d 'Build silence limit (accepted; oxnix does not build)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l timeout -d 'Build time limit (accepted; oxnix does not build)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l store -d 'The store: C++ Nix\'s auto, local, local?root=DIR (or a plain DIR), daemon or unix:///SOCKET; or oxnix\'s own memory://, sled:///PATH, grpc+http://HOST:PORT, grpc+unix:///PATH. Default: oxnix\'s store when $OXNIX_STORE or $OXNIX_STORE_DIR is set, else $NIX_REMOTE, else auto where Nix is installed (its state directory or daemon socket exists), else oxnix\'s sled store' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l version -d 'Print the version (C++ Nix\'s line, then oxnix\'s)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l flat -d 'Hash the contents of a regular file instead of its NAR serialisation'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l truncate -d 'Fold the hash to 160 bits by XOR (as store path hashes)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l base16 -d 'Print the hash in base-16 (the default)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l base32 -d 'Print the hash in Nix\'s base-32'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l base64 -d 'Print the hash in base-64'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l sri -d 'Print the hash in SRI form (algo-base64)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l to-base16 -d 'Convert the given hashes to base-16'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l to-base32 -d 'Convert the given hashes to Nix\'s base-32'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l to-base64 -d 'Convert the given hashes to base-64'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l to-sri -d 'Convert the given hashes to SRI form'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -s v -l verbose -d 'Increase the logging verbosity level'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l quiet -d 'Decrease the logging verbosity level'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l debug -d 'Set the logging verbosity level to \'debug\''
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -s Q -l no-build-output -d 'Do not show build output (accepted; oxnix does not build)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -s K -l keep-failed -d 'Keep temporary directories of failed builds (accepted; oxnix does not build)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -s k -l keep-going -d 'Keep going after a build fails (accepted; oxnix does not build)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l fallback -d 'Build from source if substitution fails (accepted; oxnix does not build)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l readonly-mode -d 'Do not write to the store (accepted)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -l no-gc-warning -d 'Disable the warning about a missing --add-root'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-hash" -s h -l help -d 'Print help'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l add-root -d 'Make PATH a symlink to the result and register it as a garbage collector root' -r -F
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l max-freed -d 'With --gc: stop deleting paths once this many bytes are freed (suffixes K, M, G, T)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l log-format -d 'Format of log output: raw, internal-json, bar or bar-with-logs' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l option -d 'Set the Nix configuration setting NAME to VALUE (overriding nix.conf)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s j -l max-jobs -d 'Maximum number of parallel builds (accepted; oxnix does not build)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l cores -d 'Cores a builder may use (accepted; oxnix does not build)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l max-silent-time -d 'Build silence limit (accepted; oxnix does not build)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l timeout -d 'Build time limit (accepted; oxnix does not build)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l store -d 'The store: C++ Nix\'s auto, local, local?root=DIR (or a plain DIR), daemon or unix:///SOCKET; or oxnix\'s own memory://, sled:///PATH, grpc+http://HOST:PORT, grpc+unix:///PATH. Default: oxnix\'s store when $OXNIX_STORE or $OXNIX_STORE_DIR is set, else $NIX_REMOTE, else auto where Nix is installed (its state directory or daemon socket exists), else oxnix\'s sled store' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l version -d 'Print the version (C++ Nix\'s line, then oxnix\'s)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l print-env -d 'Print the environment of a derivation as shell variable assignments'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l dump -d 'Write the NAR serialisation of PATH to standard output (from the store for a valid store path)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l restore -d 'Create PATH from a NAR read on standard input'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l add -d 'Add the PATHs to the store (recursive SHA-256) and print their store paths'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l add-fixed -d 'Add the PATHs as fixed-output paths of hash ALGO (first argument); see --recursive'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s q -l query -d 'Query the store: with --hash, --size, --references, --referrers, --referrers-closure, --requisites, --tree, --graph or --deriver'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l verify-path -d 'Check that the contents of the store PATHs still have their recorded NAR hash'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l delete -d 'Delete the store PATHs (with the paths among them referring to them), unless still alive (referred to by other paths, or, without --ignore-liveness, by garbage collector roots), then the store data nothing refers to'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l export -d 'Write the store PATHs to standard output in Nix\'s export format'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l import -d 'Import paths in Nix\'s export format from standard input and print them'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l check-validity -d 'Check that the store PATHs are valid (with --print-invalid: print the invalid ones instead of failing)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l print-fixed-path -d 'Print the store path of a fixed-output path from ALGO, HASH and NAME (with --recursive: of a NAR hash)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s r -l realise -d 'Print the outputs of valid paths and of derivations whose outputs are valid (oxnix does not build; with --dry-run, what would be built)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l optimise -d 'Hard-link identical files of C++ Nix\'s local store into its .links directory and report the space freed (oxnix\'s store keeps each content once: nothing to link; through C++ Nix\'s daemon, the daemon does it)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s l -l read-log -d 'Print the build log C++ Nix kept of each derivation PATH (of its deriver for an output path), from its local store\'s log directory'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l dump-db -d 'Print the validity registrations of the PATHs (of every valid path without any): path, NAR hash, NAR size, deriver, references'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l load-db -d 'Register the paths of --dump-db output read on standard input; contents not stored yet are read from the store directory and must have the NAR hash given (not through C++ Nix\'s daemon: 2.8\'s error)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l register-validity -d 'Register paths read on standard input (path, deriver, references; with --hash-given also NAR hash and size), their contents read from the store directory; with --reregister also valid ones (not through C++ Nix\'s daemon: 2.8\'s error)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l gc -d 'Delete the paths no garbage collector root keeps alive, then the store data nothing refers to (up to --max-freed BYTES); with --print-roots, --print-live or --print-dead: print the roots, or the paths they keep alive, or the others'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l init -d 'Create the store if it does not exist yet'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l verify -d 'Check the store\'s database against its data (on C++ Nix\'s local store, vanished paths are removed from it); with --check-contents, also every path\'s NAR hash (--repair repairs nothing: oxnix cannot fetch paths again); through C++ Nix\'s daemon, the daemon checks (and, for a trusted user, repairs)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l repair-path -d 'Repair the store PATHs (oxnix has no substituters: checks them, then fails as C++ Nix without substituters does; -v says what was found; through C++ Nix\'s daemon, 2.8\'s error)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l serve -d 'Serve the store on standard input and output with C++ Nix\'s serve protocol (nix-copy-closure, ssh:// stores); importing and adding paths only with --write; oxnix does not build'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l generate-binary-cache-key -d 'Write a new Ed25519 key pair named NAME to SECRET-FILE and PUBLIC-FILE (NAME:BASE64, as C++ Nix\'s binary cache signatures use)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l hash -d 'With --query: print the NAR hash (sha256, nix32)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l size -d 'With --query: print the NAR size in bytes'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l references -d 'With --query: print the paths the PATHs refer to'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l referrers -d 'With --query: print the paths referring to the PATHs'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l referrers-closure -d 'With --query: print the paths referring to the PATHs, transitively'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s R -l requisites -d 'With --query: print the closure of the PATHs'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l tree -d 'With --query: print the references of the PATHs as a tree'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l graph -d 'With --query: print the closure of the PATHs as a Graphviz graph'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l deriver -d 'With --query: print the derivation that produced the PATHs'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l outputs -d 'With --query: print the output paths of derivations (other paths as they are; the default)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s b -l binding -d 'With --query: print the value of the derivations\' environment variable NAME (first argument)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l resolve -d 'With --query: print the store paths the arguments (symlinks into the store) lead to'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l graphml -d 'With --query: print the closure of the PATHs as GraphML'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l roots -d 'With --query: print the garbage collector roots leading to the PATHs'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s u -l use-output -d 'With --query: apply the query to the outputs of derivations'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s f -l force-realise -d 'With --query: realise the paths first (valid paths only)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l include-outputs -d 'With --query --requisites: include the outputs of derivations in the closure'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l recursive -d 'With --add-fixed: hash the NAR serialisation, not the file\'s contents'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l indirect -d 'Accepted for compatibility'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l print-roots -d 'With --gc: print the garbage collector roots (LINK -> PATH) instead of deleting'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l print-live -d 'With --gc: print the paths the roots keep alive instead of deleting'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l print-dead -d 'With --gc: print the paths no root keeps alive instead of deleting them'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l ignore-liveness -d 'With --delete: ignore the garbage collector roots (paths still referred to stay)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l reregister -d 'With --register-validity: register valid paths again too'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l hash-given -d 'With --register-validity: the input gives each path\'s NAR hash and size'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l no-output -d 'With --realise: print nothing'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s v -l verbose -d 'Increase the logging verbosity level'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l quiet -d 'Decrease the logging verbosity level'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l debug -d 'Set the logging verbosity level to \'debug\''
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s Q -l no-build-output -d 'Do not show build output (accepted; oxnix does not build)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s K -l keep-failed -d 'Keep temporary directories of failed builds (accepted; oxnix does not build)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s k -l keep-going -d 'Keep going after a build fails (accepted; oxnix does not build)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l fallback -d 'Build from source if substitution fails (accepted; oxnix does not build)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l readonly-mode -d 'Do not write to the store (accepted)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -l no-gc-warning -d 'Disable the warning about a missing --add-root'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-store" -s h -l help -d 'Print help'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l add-root -d 'Make PATH a symlink to each .drv (PATH, PATH-2, …) and print it' -r -F
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l lint-short-path-literals -d 'Report relative path literals without ./ (warn or fatal; newer Nix)' -r -f -a "warn\t''
fatal\t''"
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l lint-absolute-path-literals -d 'Report absolute and ~/ path literals (warn or fatal; newer Nix)' -r -f -a "warn\t''
fatal\t''"
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l lint-url-literals -d 'Report URL literals (warn or fatal; newer Nix)' -r -f -a "warn\t''
fatal\t''"
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -s A -l attr -d 'Select an attribute of the result (a.b.0.c, x."a.b"); repeatable, each printed' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l log-format -d 'Format of log output: raw, internal-json, bar or bar-with-logs' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l option -d 'Set the Nix configuration setting NAME to VALUE (overriding nix.conf)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -s j -l max-jobs -d 'Maximum number of parallel builds (accepted; oxnix does not build)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l cores -d 'Cores a builder may use (accepted; oxnix does not build)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l max-silent-time -d 'Build silence limit (accepted; oxnix does not build)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l timeout -d 'Build time limit (accepted; oxnix does not build)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l store -d 'The store: C++ Nix\'s auto, local, local?root=DIR (or a plain DIR), daemon or unix:///SOCKET; or oxnix\'s own memory://, sled:///PATH, grpc+http://HOST:PORT, grpc+unix:///PATH. Default: oxnix\'s store when $OXNIX_STORE or $OXNIX_STORE_DIR is set, else $NIX_REMOTE, else auto where Nix is installed (its state directory or daemon socket exists), else oxnix\'s sled store' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l arg -d 'Pass NAME = EXPR to a function result' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l argstr -d 'Pass NAME = STRING to a function result' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -s I -l include -d 'Add a search path entry (NAME=PATH or PATH) before those of the nix-path setting and $NIX_PATH' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l override-flake -d 'Override a flake registry entry (accepted; unused here)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l eval-store -d 'The store for evaluation results (accepted; unused here)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l version -d 'Print the version (C++ Nix\'s line, then oxnix\'s)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l eval -d 'Evaluate and print the result instead of instantiating'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l eval-only -d 'Old name of --eval'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l parse -d 'Parse the input only and print it in normal form'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l parse-only -d 'Old name of --parse'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l strict -d 'Evaluate the result completely (with --eval)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l json -d 'Print the result as JSON (the last of --json and --xml counts)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l xml -d 'Print the result as XML (the last of --json and --xml counts)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l no-location -d 'Omit locations in XML output'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l indirect -d 'Accepted for compatibility (roots are symlinks)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l dry-run -d 'Evaluate and print the .drv paths without writing to the store'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l repair -d 'Accepted for compatibility'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l find-file -d 'Look the arguments up in the search path'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l read-write-mode -d 'Allow writing to the store during evaluation'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l trace-verbose -d 'Make builtins.traceVerbose print its message (newer Nix)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -s E -l expr -d 'Treat the arguments as Nix expressions'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -s v -l verbose -d 'Increase the logging verbosity level'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l quiet -d 'Decrease the logging verbosity level'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l debug -d 'Set the logging verbosity level to \'debug\''
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -s Q -l no-build-output -d 'Do not show build output (accepted; oxnix does not build)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -s K -l keep-failed -d 'Keep temporary directories of failed builds (accepted; oxnix does not build)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -s k -l keep-going -d 'Keep going after a build fails (accepted; oxnix does not build)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l fallback -d 'Build from source if substitution fails (accepted; oxnix does not build)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l readonly-mode -d 'Do not write to the store (accepted)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l no-gc-warning -d 'Disable the warning about a missing --add-root'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -l impure -d 'Allow access to mutable paths (the default for these commands)'
complete -c oxnix -n "__fish_oxnix_using_subcommand nix-instantiate" -s h -l help -d 'Print help'
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and not __fish_seen_subcommand_from daemon mount help" -s h -l help -d 'Print help'
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and not __fish_seen_subcommand_from daemon mount help" -f -a "daemon" -d 'Serve the store over gRPC until SIGINT or SIGTERM'
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and not __fish_seen_subcommand_from daemon mount help" -f -a "mount" -d 'Mount the store read-only with FUSE: each valid store path as an entry of MOUNTPOINT; until unmounted, SIGINT or SIGTERM'
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and not __fish_seen_subcommand_from daemon mount help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l listen -d 'HOST:PORT, grpc+http://HOST:PORT, grpc+https://HOST:PORT (with --tls-cert) or grpc+unix:///PATH (port 0: any free port, printed on stderr); TCP on a non-loopback address needs --token-file' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l store -d 'The store: memory://, sled:///ABSOLUTE/PATH, grpc+http://HOST:PORT or grpc+unix:///PATH (default: $OXNIX_STORE, else a sled store in $OXNIX_STORE_DIR, $XDG_DATA_HOME/oxnix or ~/.local/share/oxnix)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l trusted-users -d 'Users trusted to register any path and to delete (names, @GROUP, *; space-separated); default: nix.conf\'s trusted-users, else root. Root and the daemon\'s own user are always trusted' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l allowed-users -d 'Users allowed to connect at all (names, @GROUP, *); default: nix.conf\'s allowed-users, else *' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l token-file -d 'Over TCP, require this bearer token (the file\'s first line; the file must not be world-readable) on every call; its bearer is trusted' -r -F
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l tls-cert -d 'Serve TCP over TLS with this certificate chain (PEM); clients use grpc+https://HOST:PORT?ca-file=CA.pem' -r -F
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l tls-key -d 'The private key (PEM) of --tls-cert' -r -F
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l socket-mode -d 'Permissions of the unix socket (allowed-users decides who may use it, as with C++ Nix\'s 0666 socket)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l idle-timeout -d 'Fail a call whose client sends nothing (or reads nothing) for this long' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l call-timeout -d 'Fail a call that takes longer than this' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l max-uploads -d 'Blob and directory uploads in progress at once, all clients together (more fail with RESOURCE_EXHAUSTED)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l max-uploads-per-client -d 'Uploads in progress at once for one user (or the token\'s holders)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l max-streams-per-connection -d 'Calls one connection may have open at once' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l max-connections -d 'Connections open at once, all clients together (more are closed as they come)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l max-connections-per-client -d 'Connections one user (over TCP with a token, one address) may have open at once' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l max-busy-per-client -d 'Pieces of the store\'s work (on its 32 threads) one client may have running at once; more wait without holding a thread' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l max-message-size -d 'Largest message either side accepts' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l max-directory-entries -d 'Most entries one directory may have' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l max-closure -d 'Most directories one directory upload may carry' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -l max-signatures -d 'Most signatures one path may carry (each at most 1024 bytes)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from daemon" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from mount" -l store -d 'The store: memory://, sled:///ABSOLUTE/PATH, grpc+http://HOST:PORT or grpc+unix:///PATH (default: $OXNIX_STORE, else a sled store in $OXNIX_STORE_DIR, $XDG_DATA_HOME/oxnix or ~/.local/share/oxnix)' -r
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from mount" -l no-prefetch -d 'Do not push a directory\'s files into the kernel\'s cache once one of them is read or the directory is listed in a walk of the tree (each file then costs read requests when first read)'
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from mount" -s h -l help -d 'Print help'
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "daemon" -d 'Serve the store over gRPC until SIGINT or SIGTERM'
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "mount" -d 'Mount the store read-only with FUSE: each valid store path as an entry of MOUNTPOINT; until unmounted, SIGINT or SIGTERM'
complete -c oxnix -n "__fish_oxnix_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oxnix -n "__fish_oxnix_using_subcommand gen-docs" -s h -l help -d 'Print help'
complete -c oxnix -n "__fish_oxnix_using_subcommand help; and not __fish_seen_subcommand_from nix-hash nix-store nix-instantiate store gen-docs help" -f -a "nix-hash" -d 'Compute the cryptographic hash of a path, or convert a hash between encodings'
complete -c oxnix -n "__fish_oxnix_using_subcommand help; and not __fish_seen_subcommand_from nix-hash nix-store nix-instantiate store gen-docs help" -f -a "nix-store" -d 'Manipulate or query the Nix store (oxnix: its own content-addressed store)'
complete -c oxnix -n "__fish_oxnix_using_subcommand help; and not __fish_seen_subcommand_from nix-hash nix-store nix-instantiate store gen-docs help" -f -a "nix-instantiate" -d 'Instantiate store derivations from Nix expressions, or evaluate them (--eval)'
complete -c oxnix -n "__fish_oxnix_using_subcommand help; and not __fish_seen_subcommand_from nix-hash nix-store nix-instantiate store gen-docs help" -f -a "store" -d 'Serve oxnix\'s store: a gRPC daemon, or a FUSE mount'
complete -c oxnix -n "__fish_oxnix_using_subcommand help; and not __fish_seen_subcommand_from nix-hash nix-store nix-instantiate store gen-docs help" -f -a "gen-docs" -d 'Generate shell completions and man pages for the oxnix commands'
complete -c oxnix -n "__fish_oxnix_using_subcommand help; and not __fish_seen_subcommand_from nix-hash nix-store nix-instantiate store gen-docs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oxnix -n "__fish_oxnix_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "daemon" -d 'Serve the store over gRPC until SIGINT or SIGTERM'
complete -c oxnix -n "__fish_oxnix_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "mount" -d 'Mount the store read-only with FUSE: each valid store path as an entry of MOUNTPOINT; until unmounted, SIGINT or SIGTERM'
