//! The multicall executable: runs as `nix-instantiate`, `nix-store` or
//! `nix-hash` when started under that name, or takes any command of
//! `oxnix::cli::commands::COMMANDS` as its first argument (`oxnix store …`).

fn main() {
    std::process::exit(oxnix::cli::main_multicall(std::env::args_os().collect()));
}
