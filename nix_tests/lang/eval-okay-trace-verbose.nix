# With --trace-verbose, traceVerbose is trace.
builtins.traceVerbose "shown" (builtins.traceVerbose { a = 1; } 7)
