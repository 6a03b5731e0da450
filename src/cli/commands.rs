//! The registry of oxnix's commands: one entry per command, which the
//! multicall dispatch (`oxnix CMD …`, or the binary started as
//! `nix-store`), the separate executables, `oxnix help CMD`, `gen-docs`
//! (man pages and completions) and the tests all read. A new command is
//! a module with `command` and `run`, and an entry in [`COMMANDS`].

use std::ffi::OsString;

use super::man::{self, Section};
use super::{gen_docs, nix_hash, nix_instantiate, nix_store, store, CliError};

/// One command.
pub struct CommandDef {
    /// The name it is run by: `oxnix NAME …`.
    pub name: &'static str,
    /// A drop-in for the C++ Nix command of the same name: it has an
    /// executable of its own, the multicall binary runs it when started
    /// under that name, and it gets shell completions of its own.
    pub nix_command: bool,
    /// Its man page (section 1).
    pub man_page: &'static str,
    /// The man page's hand-written sections after the options
    /// (ENVIRONMENT, EXIT STATUS, EXAMPLES).
    pub man_sections: &'static [Section],
    /// Its clap definition: help, man page, completions.
    pub command: fn() -> clap::Command,
    /// Runs it with the arguments after its name.
    pub run: fn(Vec<OsString>) -> Result<(), CliError>,
}

/// Every command, in the order `oxnix --help` lists them.
pub const COMMANDS: &[CommandDef] = &[
    CommandDef {
        name: "nix-hash",
        nix_command: true,
        man_page: "nix-hash",
        man_sections: man::NIX_HASH,
        command: nix_hash::command,
        run: nix_hash::run,
    },
    CommandDef {
        name: "nix-store",
        nix_command: true,
        man_page: "nix-store",
        man_sections: man::NIX_STORE,
        command: nix_store::command,
        run: nix_store::run,
    },
    CommandDef {
        name: "nix-instantiate",
        nix_command: true,
        man_page: "nix-instantiate",
        man_sections: man::NIX_INSTANTIATE,
        command: nix_instantiate::command,
        run: nix_instantiate::run,
    },
    CommandDef {
        name: "store",
        nix_command: false,
        man_page: "oxnix-store",
        man_sections: man::OXNIX_STORE,
        command: store::command,
        run: store::run,
    },
    CommandDef {
        name: "gen-docs",
        nix_command: false,
        man_page: "oxnix-gen-docs",
        man_sections: &[],
        command: gen_docs::command,
        run: gen_docs::run,
    },
];

/// The command run by `name`.
pub fn find(name: &str) -> Option<&'static CommandDef> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// The drop-ins for C++ Nix's commands.
pub fn nix_commands() -> impl Iterator<Item = &'static CommandDef> {
    COMMANDS.iter().filter(|c| c.nix_command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_clap_definitions() {
        for c in COMMANDS {
            assert_eq!((c.command)().get_name(), c.name);
            assert!(c.man_page == c.name || c.man_page == format!("oxnix-{}", c.name));
        }
    }
}
