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

use super::commands::{nix_commands, COMMANDS};
use super::man::{self, PageInfo};
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
    let mut files = Vec::new();
    // Completions: each Nix command's own, and oxnix's (with every command).
    let completed = nix_commands()
        .map(|c| (c.command)())
        .chain([super::multicall_command()]);
    for mut cmd in completed {
        let name = cmd.get_name().to_owned();
        for (shell, file) in [
            (Shell::Bash, format!("completions/bash/{name}")),
            (Shell::Zsh, format!("completions/zsh/_{name}")),
            (Shell::Fish, format!("completions/fish/{name}.fish")),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, name.clone(), &mut buf);
            files.push((PathBuf::from(file), buf));
        }
    }
    for (page, cmd, info) in man_pages() {
        let contents = man::render(&cmd, &info)?;
        files.push((PathBuf::from(format!("man/{page}.1")), contents));
    }
    Ok(files)
}

/// Every man page: `oxnix`'s, each command's, and one for each subcommand
/// of a command (`oxnix store daemon`), with the name of its page.
fn man_pages() -> Vec<(String, Command, PageInfo)> {
    let top: Vec<&str> = std::iter::once("oxnix")
        .chain(COMMANDS.iter().map(|c| c.man_page))
        .collect();
    let others = |page: &str| -> Vec<String> {
        top.iter()
            .filter(|p| **p != page)
            .map(|p| (*p).to_owned())
            .collect()
    };
    let mut pages = vec![(
        "oxnix".to_owned(),
        super::multicall_command(),
        PageInfo {
            sections: &[],
            subcommand_pages: COMMANDS
                .iter()
                .map(|c| (c.name.to_owned(), c.man_page.to_owned()))
                .collect(),
            see_also: others("oxnix"),
            nix_command: None,
        },
    )];
    for c in COMMANDS {
        let mut cmd = (c.command)();
        if !c.nix_command {
            cmd = cmd
                .display_name(c.man_page)
                .bin_name(format!("oxnix {}", c.name));
        }
        let mut subcommand_pages = Vec::new();
        for sub in cmd.get_subcommands() {
            let page = format!("{}-{}", c.man_page, sub.get_name());
            let bin = format!("oxnix {} {}", c.name, sub.get_name());
            subcommand_pages.push((sub.get_name().to_owned(), page.clone()));
            let info = PageInfo {
                sections: c.man_sections,
                subcommand_pages: Vec::new(),
                see_also: others(&page),
                nix_command: None,
            };
            let sub = sub.clone().display_name(page.clone()).bin_name(bin);
            pages.push((page, sub, info));
        }
        let info = PageInfo {
            sections: c.man_sections,
            subcommand_pages,
            see_also: others(c.man_page),
            nix_command: c.nix_command.then_some(c.name),
        };
        pages.push((c.man_page.to_owned(), cmd, info));
    }
    pages
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
