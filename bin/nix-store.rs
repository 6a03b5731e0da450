//! The `nix-store` executable (the same code as `oxnix nix-store`).

fn main() {
    std::process::exit(oxnix::cli::run_command(
        "nix-store",
        std::env::args_os().skip(1).collect(),
    ));
}
