# baseNameOf and dirOf on strings, paths and sets that coerce.
{
  base = map baseNameOf [
    "" "." ".." "a" "a/" "a/." "a/b" "a//b" "a//" "/" "//" "/a/b/" "C:a" "a\\b"
    { outPath = "/x/y"; }
    { __toString = self: "/x/z/"; }
  ];
  basePath = baseNameOf ./foo;
  dir = map dirOf [
    "" "filename" "a/b" "a///b" "/" "//" "///" "/a" "a/b/c/./d" "a/b/c/..//d"
    { outPath = "/x/y"; }
  ];
  dirPath = dirOf ./foo;
  dirRoot = dirOf /.;
  dirTypes = map (x: builtins.typeOf (dirOf x)) [ ./a "/a" { outPath = ./a; } ];
}
