# replaceStrings copies runs of bytes that no pattern starts with; these
# check the places where a run ends: a pattern's first byte that does not
# match there, overlapping patterns, the end of the string, multi-byte
# characters, and an empty pattern (which matches everywhere).
with builtins;
[
  (replaceStrings [ "ab" "b" ] [ "X" "Y" ] "xxabxbxaxb")
  (replaceStrings [ "abc" "ab" ] [ "1" "2" ] "abcababdab")
  (replaceStrings [ "é" ] [ "e" ] "café, éé, e")
  (replaceStrings [ "zz" ] [ "Z" ] "azzz z zz")
  (replaceStrings [ "a" "" ] [ "A" "-" ] "bab")
  (replaceStrings [ "end" ] [ "END" ] "the end")
  (replaceStrings [ "x" ] [ "y" ] "")
  (concatStringsSep ", " [ "a" (toString 12) "${"b"}c" ])
  (concatStringsSep "" (genList (i: toString (i - 3)) 7))
]
