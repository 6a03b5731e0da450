# convertHash (newer Nix): every input form to every output format.
with builtins;
let
  sha256 = hashString "sha256" "abc";
  md5 = hashString "md5" "abc";
  to = hash: extra: map (f: convertHash ({ inherit hash; toHashFormat = f; } // extra)) [
    "base16"
    "nix32"
    "base64"
    "sri"
  ];
  sri256 = convertHash { hash = sha256; hashAlgo = "sha256"; toHashFormat = "sri"; };
  nix32 = convertHash { hash = md5; hashAlgo = "md5"; toHashFormat = "nix32"; };
  b64 = convertHash { hash = sha256; hashAlgo = "sha256"; toHashFormat = "base64"; };
in
{
  bare = to sha256 { hashAlgo = "sha256"; };
  prefixed = to "sha256:${sha256}" { };
  prefixedAlgo = to "sha256:${sha256}" { hashAlgo = "sha256"; };
  sri = to sri256 { };
  nix32 = to nix32 { hashAlgo = "md5"; };
  nix32Prefixed = to "md5:${nix32}" { };
  base64 = to b64 { hashAlgo = "sha256"; };
  upperHex = convertHash { hash = "md5:900150983CD24FB0D6963F7D28E17F72"; toHashFormat = "sri"; };
  sha1 = to (hashString "sha1" "") { hashAlgo = "sha1"; };
  sha512 = to (hashString "sha512" "") { hashAlgo = "sha512"; };
}
