//! The `nix-instantiate` executable (the same code as `oxnix nix-instantiate`).

fn main() {
    std::process::exit(oxnix::cli::run_command(
        "nix-instantiate",
        std::env::args_os().skip(1).collect(),
    ));
}
