# warn and break (newer Nix) return their last argument; traceVerbose
# (newer Nix, not in C++ Nix 2.8) exists only with --trace-verbose.
with builtins;
{
  warn = warn "a warning\nover two lines" 1;
  warnNested = warn "outer" (warn "inner" [ 2 ]);
  break = break { x = 3; };
  breakLazy = (break [ (throw "unused") 4 ]) == null;
  noTraceVerbose = builtins ? traceVerbose;
}
