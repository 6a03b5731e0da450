# warn, break and traceVerbose (newer Nix) return their last argument;
# without --trace-verbose, traceVerbose prints nothing.
with builtins;
{
  warn = warn "a warning\nover two lines" 1;
  warnNested = warn "outer" (warn "inner" [ 2 ]);
  break = break { x = 3; };
  breakLazy = (break [ (throw "unused") 4 ]) == null;
  traceVerbose = traceVerbose "not shown" 5;
  traceVerboseLazyMessage = traceVerbose (throw "not evaluated") 6;
}
