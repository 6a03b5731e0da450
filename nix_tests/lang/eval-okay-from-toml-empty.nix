map builtins.fromTOML [ "" "\n\n" "# only a comment\n" ]
