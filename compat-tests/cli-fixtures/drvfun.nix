# A function with default arguments returning a derivation.
{ name ? "fromfun", greeting ? "hi" }:
derivation {
  inherit name greeting;
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo $greeting > $out" ];
}
