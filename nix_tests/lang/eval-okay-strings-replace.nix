# replaceStrings: left-to-right scan, first pattern wins, empty patterns
# match at every position (also the end).
with builtins;
[
  (replaceStrings [ "o" ] [ "a" ] "foobar")
  (replaceStrings [ "oo" "a" ] [ "a" "oo" ] "foobar")
  (replaceStrings [ "oo" "oo" ] [ "u" "i" ] "foobar")
  (replaceStrings [ "" ] [ "X" ] "abc")
  (replaceStrings [ "" ] [ "X" ] "")
  (replaceStrings [ "a" "" ] [ "A" "_" ] "banana")
  (replaceStrings [ "" "a" ] [ "_" "A" ] "banana")
  (replaceStrings [ "ab" "a" ] [ "1" "2" ] "aababa")
  (replaceStrings [ "a" "ab" ] [ "1" "2" ] "aababa")
  (replaceStrings [ ] [ ] "abc")
  (replaceStrings [ "abcd" ] [ "x" ] "abc")
  (replaceStrings [ "c" ] [ "xyz" ] "abc")
  (replaceStrings [ "$" "{" ] [ "\\$" "(" ] "a\${b}")
  (replaceStrings [ "\n" "\t" ] [ "\\n" "\\t" ] "line\none\ttab")
  (replaceStrings [ "é" ] [ "e" ] "café crème")
  (replaceStrings [ "a" ] [ "b" ] "")
]
