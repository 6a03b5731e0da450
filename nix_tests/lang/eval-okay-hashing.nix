# hashString and hashFile with every algorithm, on strings and files
# (empty, text, a NUL byte) reached as paths and as strings.
with builtins;
let
  algos = [ "md5" "sha1" "sha256" "sha512" ];
  strings = [ "" "abc" "héllo wörld\n" "a\tb\nc" ];
  files = [
    ./data-io/empty.txt
    ./data-io/hello.txt
    ./data-io/nul.bin
    "${toString ./data-io}/subdir/inner.txt"
    { outPath = toString ./data-io/hello.txt; }
  ];
in
{
  strings = map (a: map (hashString a) strings) algos;
  files = map (a: map (hashFile a) files) algos;
  # The string's context does not matter.
  interpolated = hashString "md5" "${"a"}${toString 1}";
  # The algorithm is checked first, the string may be lazy.
  lazy = tryEval (hashString "sha1" (throw "late"));
}
