//! The `nix-store` executable (the same code as `oxnix nix-store`).

fn main() {
    std::process::exit(oxnix::cli::run_invoked(
        "nix-store",
        std::env::args_os().collect(),
    ));
}
