//! The `nix-hash` executable (the same code as `oxnix nix-hash`).

fn main() {
    std::process::exit(oxnix::cli::run_command(
        "nix-hash",
        std::env::args_os().skip(1).collect(),
    ));
}
