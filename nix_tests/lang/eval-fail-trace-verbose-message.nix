# With --trace-verbose, the message is evaluated.
builtins.traceVerbose (throw "message fails") 1
