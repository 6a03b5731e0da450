"bar.nix from sp"
