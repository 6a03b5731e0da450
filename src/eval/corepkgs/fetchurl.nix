# oxnix's <nix/fetchurl.nix>. C++ Nix's takes these arguments and builds a
# fixed-output derivation with its built-in fetcher; fetching needs the
# network and a store, which oxnix's evaluator does not have.
{
  system ? "",
  url,
  hash ? "",
  md5 ? "",
  sha1 ? "",
  sha256 ? "",
  sha512 ? "",
  outputHash ? "",
  outputHashAlgo ? "",
  executable ? false,
  unpack ? false,
  name ? baseNameOf (toString url),
}:
abort "<nix/fetchurl.nix> is not supported offline by oxnix (fetching '${toString url}')"
