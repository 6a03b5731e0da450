# builtins.split: the leftmost match, and of those the longest (POSIX),
# empty matches as std::regex_iterator finds them.
let
  s = builtins.split;
in
[
  (s "a|ab" "xabx")
  (s "ab|abc|abcd" "abcde")
  (s "(ab|abc|abcd)(e?)" "abcde")
  (s "(a|ab)(c|bcd)(d*)" "xxabcdx")
  (s "a*" "baaac")
  (s "" "abc")
  (s "x*" "")
  (s "b*" "abbbc")
  (s "(b*)|c" "abbbcd")
  (s "a+?" "aaa")
  (s "(a)|b" "ab")
  (s "(x)?a" "aaxa")
  (s "(a|aa)*" "aaa")
  (s "^a" "aaa")
  (s "a$" "aaa")
  (s "(^|b)a" "aaba")
  (s "$" "abc")
  (s "^" "abc")
  (s "^|$" "abc")
  (s "a|" "bab")
  (s "\\." "a.b.c")
  (s "[[:upper:]]+" "aBCdEF")
  (s "(a)(b)?" "aab")
  (s "[, ]" "a,b c")
  (s "([, ])" "a,b c")
  (s "(fo{1,2})" "fooo")
  (s "(o+)" "oooofoooo")
  (s "[[:space:]]+|([',.!?])" ''
    Nix Rocks!
    That's why I use it.
  '')
  (s "é" "aébéc")
  (s "foo" "bar")
]
