# Derivations: a plain one, multiple outputs, recurseForDerivations, a
# source file, a dependency, a function, and values that are not derivations.
let
  mk = name: extra: derivation ({
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo > $out" ];
  } // extra);
  hello = mk "hello" { };
in
{
  inherit hello;
  multi = mk "multi" {
    outputs = [ "out" "dev" "doc" ];
    args = [ "-c" "echo > $out; echo > $dev; echo > $doc" ];
  };
  pkgs = {
    recurseForDerivations = true;
    a = mk "a" { };
    b = mk "b" { };
    sub = {
      recurseForDerivations = true;
      c = mk "c" { };
    };
    hidden = { d = mk "d" { }; };
    notDrv = 3;
  };
  withSrc = mk "with-src" { src = ./file.txt; };
  dep = mk "dep" { inherit hello; };
  fn = { name ? "fn" }: mk name { };
  list = [ hello (mk "in-list" { }) ];
  notDrv = 1;
  str = "s";
}
