# Evaluated when nix-instantiate gets no file argument.
{ n ? 1 }: { root = "default.nix"; inherit n; }
