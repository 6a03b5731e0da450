//! `oxnix gen-docs [DIR]`: writes shell completions (bash, zsh, fish) and man
//! pages for every command from their clap definitions, into
//! `DIR/completions` and `DIR/man`. A test checks the committed files are
//! what this generates.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap::{Arg, Command};
use clap_complete::Shell;

use super::{clap_failure, CliError};

/// The clap definition of `oxnix gen-docs`.
pub fn command() -> Command {
    Command::new("gen-docs")
        .about("Generate shell completions and man pages for the oxnix commands")
        .arg(
            Arg::new("dir")
                .value_name("DIR")
                .default_value(".")
                .value_parser(clap::value_parser!(PathBuf))
                .value_hint(clap::ValueHint::DirPath)
                .help("Where to write completions/ and man/"),
        )
}

/// Every generated file: its path below the output directory and contents.
pub fn generate() -> io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let commands = [
        super::nix_hash::command(),
        super::nix_store::command(),
        super::nix_instantiate::command(),
        super::multicall_command(),
    ];
    let mut files = Vec::new();
    // `oxnix store` is only a subcommand (its completions are oxnix's); it
    // gets a man page of its own, with its subcommands.
    for cmd in [super::store::command().name("oxnix-store")] {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
        files.push((PathBuf::from("man/oxnix-store.1"), buf));
        for sub in cmd.get_subcommands() {
            let name = match sub.get_name() {
                "daemon" => "oxnix-store-daemon",
                "mount" => "oxnix-store-mount",
                _ => continue,
            };
            let sub = sub.clone().name(name);
            let mut buf = Vec::new();
            clap_mangen::Man::new(sub.clone()).render(&mut buf)?;
            files.push((PathBuf::from(format!("man/{}.1", sub.get_name())), buf));
        }
    }
    for cmd in commands {
        let name = cmd.get_name().to_owned();
        for (shell, file) in [
            (Shell::Bash, format!("completions/bash/{name}")),
            (Shell::Zsh, format!("completions/zsh/_{name}")),
            (Shell::Fish, format!("completions/fish/{name}.fish")),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), name.clone(), &mut buf);
            files.push((PathBuf::from(file), buf));
        }
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
        files.push((PathBuf::from(format!("man/{name}.1")), buf));
    }
    Ok(files)
}

/// Writes every generated file below `dir`.
pub fn write_all(dir: &Path) -> io::Result<()> {
    for (rel, contents) in generate()? {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, contents)?;
    }
    Ok(())
}

/// Runs `oxnix gen-docs`.
pub fn run(args: Vec<OsString>) -> Result<(), CliError> {
    let m = match command()
        .try_get_matches_from(std::iter::once(OsString::from("gen-docs")).chain(args))
    {
        Ok(m) => m,
        Err(e) => return clap_failure(e),
    };
    let dir = m
        .get_one::<PathBuf>("dir")
        .cloned()
        .unwrap_or_else(|| PathBuf::from("."));
    write_all(&dir).map_err(CliError::failed)
}
