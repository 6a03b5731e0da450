# compareVersions, splitVersion and parseDrvName with C++ Nix's component
# rules.
let
  versions = [
    "" "1" "1.0" "1-0" "1.0.0" "1a" "1.a" "a" "pre" "1pre" "1.0pre1"
    "1.0-pre1" "1.0rc1" "2.3" "2.3a" "2.3.1" "2.3pre1" "2.3pre12" "2.3c"
    "1.99999999999" "1.3" "1.2147483647" "1.2147483648" "01" "1.01" "1..2"
    "alpha" "beta" "1_2" "1+2" "unstable-2021-01-01" "2021" "p" "pre1" "1.0-"
  ];
  names = [
    "hello-1.0.2" "hello" "915resolution-0.5.2" "xf86-video-i810-1.7.4"
    "name-that-ends-with-dash--1.0" "a-b-c" "a-" "a--" "-1" "-a" "foo-bar-1é"
    "foo-é1" "foo-_1" "foo-.1" ""
  ];
in
{
  compare = map (a: map (b: builtins.compareVersions a b) versions) versions;
  split = map builtins.splitVersion versions;
  names = map builtins.parseDrvName names;
}
