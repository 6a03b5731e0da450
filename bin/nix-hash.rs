//! The `nix-hash` executable (the same code as `oxnix nix-hash`).

fn main() {
    std::process::exit(oxnix::cli::run_invoked(
        "nix-hash",
        std::env::args_os().collect(),
    ));
}
