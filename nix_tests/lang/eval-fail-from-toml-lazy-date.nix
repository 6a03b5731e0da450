# The whole document is converted: an unused date still fails.
(builtins.fromTOML "a = 1\nb = 07:32:00").a
