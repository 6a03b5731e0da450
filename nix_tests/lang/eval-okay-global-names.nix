# The names C++ Nix 2.8 puts in scope: the global builtins under their own
# name only, the others only as `__name`.
[
  abort baseNameOf derivation derivationStrict dirOf fetchGit fetchMercurial
  fetchTarball fetchTree fromTOML import isNull map placeholder removeAttrs
  scopedImport throw toString true false null
  __add __attrNames __currentSystem (builtins.isInt __currentTime) __findFile
  (builtins.isList __nixPath)
  __nixVersion __storeDir __langVersion __sub __typeOf __trace
  (builtins ? getFlake)
  (builtins ? traceVerbose)
  (builtins.length (builtins.attrNames builtins) > 100)
]
