# Search-path lookups inside a file.
{ foo = import <foo>; bar = import <bar.nix>; }
