# builtins.storeDir (no NIX_STORE_DIR here) and <nix/fetchurl.nix>, which
# C++ Nix 2.8 builds in.
with builtins;
{
  storeDir = storeDir;
  fetchurlPath = toString <nix/fetchurl.nix>;
  otherPath = toString <nix/other.nix>;
  fetchurlArgs = functionArgs (import <nix/fetchurl.nix>);
  same = import <nix/fetchurl.nix> == import <nix/fetchurl.nix>;
}
