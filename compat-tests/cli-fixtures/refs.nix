# A derivation referring to the source given as `src`.
{ src, name ? "refs" }:
derivation {
  inherit name src;
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo > $out" ];
}
