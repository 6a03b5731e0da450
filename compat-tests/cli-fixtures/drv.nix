# One derivation at the root.
derivation {
  name = "single";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo > $out" ];
}
