//! The `nix-instantiate` executable (the same code as `oxnix nix-instantiate`).

fn main() {
    std::process::exit(oxnix::cli::run_invoked(
        "nix-instantiate",
        std::env::args_os().collect(),
    ));
}
