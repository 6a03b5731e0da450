//! The multicall executable: runs as `nix-hash` or `nix-store` when started
//! under that name, or takes the command as its first argument.

fn main() {
    std::process::exit(oxnix::cli::main_multicall(std::env::args_os().collect()));
}
