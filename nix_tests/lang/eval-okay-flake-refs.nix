# parseFlakeRef and flakeRefToString (newer Nix) for references that need
# no file system.
with builtins;
let
  refs = [
    "github:NixOS/nixpkgs"
    "github:NixOS/nixpkgs/nixos-23.05?dir=lib"
    "github:NixOS/nixpkgs/0123456789abcdef0123456789abcdef01234567"
    "github:NixOS/nixpkgs?ref=release/23.05&host=github.example.org"
    "gitlab:group/project/feature/nested"
    "sourcehut:~user/repo"
    "nixpkgs"
    "nixpkgs/nixos-23.05"
    "flake:nixpkgs/nixos-23.05/0123456789abcdef0123456789abcdef01234567"
    "path:/srv/flake?lastModified=1700000000&rev=0123456789abcdef0123456789abcdef01234567"
    "git+https://example.org/repo.git?ref=main&rev=0123456789abcdef0123456789abcdef01234567&shallow=1"
    "git+ssh://git@example.org/repo?dir=sub"
    "hg+https://example.org/repo?ref=default"
    "https://example.org/archive.tar.gz?dir=x"
    "https://example.org/file.txt"
  ];
  parsed = map parseFlakeRef refs;
in
{
  inherit parsed;
  printed = map flakeRefToString parsed;
  fromAttrs = [
    (flakeRefToString { type = "github"; owner = "o"; repo = "r"; rev = "0123456789abcdef0123456789abcdef01234567"; })
    (flakeRefToString { type = "indirect"; id = "nixpkgs"; ref = "x"; dir = "a/b"; })
    (flakeRefToString { type = "path"; path = "/p"; revCount = 3; })
    (flakeRefToString { type = "git"; url = "file:///repo"; submodules = true; shallow = false; })
  ];
}
