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
        render_man(&cmd, &mut buf)?;
        files.push((PathBuf::from(format!("man/{name}.1")), buf));
    }
    Ok(files)
}

/// A man page: clap's sections, then ENVIRONMENT, EXIT STATUS, EXAMPLES,
/// SEE ALSO and VERSION for the Nix commands.
fn render_man(cmd: &Command, out: &mut Vec<u8>) -> io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let name = cmd.get_name();
    let Some(extra) = man_sections(name) else {
        return man.render(out);
    };
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_extra_section(out)?;
    let esc = |t: &str| t.replace('\\', "\\\\").replace('-', "\\-");
    for (title, items) in extra {
        out.extend_from_slice(format!(".SH \"{title}\"\n").as_bytes());
        for (term, text) in items.iter() {
            if term.is_empty() {
                out.extend_from_slice(format!(".PP\n{}\n", esc(text)).as_bytes());
            } else {
                out.extend_from_slice(
                    format!(".TP\n\\fB{}\\fR\n{}\n", esc(term), esc(text)).as_bytes(),
                );
            }
        }
    }
    let others: Vec<String> = ["nix-hash", "nix-instantiate", "nix-store", "oxnix"]
        .iter()
        .filter(|c| **c != name)
        .map(|c| format!("\\fB{}\\fR(1)", esc(c)))
        .collect();
    out.extend_from_slice(format!(".SH \"SEE ALSO\"\n{}\n", others.join(", ")).as_bytes());
    out.extend_from_slice(
        format!(
            ".SH VERSION\noxnix {}, a drop\\-in for the command of C++ Nix 2.8\n",
            env!("CARGO_PKG_VERSION")
        )
        .as_bytes(),
    );
    Ok(())
}

type Section = (&'static str, &'static [(&'static str, &'static str)]);

/// The sections C++ Nix's manual has and clap cannot generate.
fn man_sections(name: &str) -> Option<&'static [Section]> {
    const CONFIG: (&str, &str) = (
        "NIX_CONF_DIR, NIX_USER_CONF_FILES, XDG_CONFIG_HOME, XDG_CONFIG_DIRS, NIX_CONFIG",
        "Settings are read from $NIX_CONF_DIR/nix.conf (default /etc/nix/nix.conf), then the user's nix/nix.conf files, then the text of $NIX_CONFIG; --option NAME VALUE and --NAME VALUE override them. Unknown settings are warned about.",
    );
    const STORE: (&str, &str) = super::store_env::STORE_ENV_HELP;
    const STORE_DIR: (&str, &str) = super::store_env::STORE_DIR_ENV_HELP;
    const STATUS: Section = (
        "EXIT STATUS",
        &[
            ("0", "Success."),
            (
                "1",
                "An error: a usage error (then also \"Try 'COMMAND --help' for more information.\"), an evaluation error, a missing or invalid path. The message is on standard error, after \"error:\".",
            ),
        ],
    );
    match name {
        "nix-instantiate" => Some(&[
            (
                "ENVIRONMENT",
                &[
                    (
                        "NIX_PATH",
                        "The search path for <NAME> lookups after the -I entries, when the nix-path setting is not set: NAME=PATH or PATH entries separated by ':' (URLs stay whole). Missing entries are warned about and skipped.",
                    ),
                    CONFIG,
                    STORE,
                    STORE_DIR,
                    ("HOME", "For ~/ paths in Nix expressions."),
                ],
            ),
            STATUS,
            (
                "EXAMPLES",
                &[
                    ("nix-instantiate --eval -E '1 + 2'", "Prints 3."),
                    (
                        "nix-instantiate --eval --strict --json default.nix -A pkgs.hello.meta",
                        "Evaluates one attribute completely and prints it as JSON; functions met along the path are called with their default arguments.",
                    ),
                    (
                        "nix-instantiate default.nix -A hello --argstr version 2.0 --add-root ./drv",
                        "Writes the derivation of hello into the store and makes ./drv a symlink to it.",
                    ),
                    (
                        "nix-instantiate --find-file nixpkgs -I nixpkgs=/src/nixpkgs",
                        "Prints where <nixpkgs> is found.",
                    ),
                    (
                        "nix-instantiate --restrict-eval --eval ./file.nix -I .",
                        "Evaluates with file access limited to the search path.",
                    ),
                ],
            ),
        ]),
        "nix-store" => Some(&[
            ("ENVIRONMENT", &[STORE, STORE_DIR, CONFIG]),
            STATUS,
            (
                "EXAMPLES",
                &[
                    (
                        "nix-store --add ./src",
                        "Adds a tree to the store and prints its store path.",
                    ),
                    (
                        "nix-store -qR $(nix-instantiate default.nix)",
                        "Prints the closure of a derivation.",
                    ),
                    (
                        "nix-store --dump ./src | nix-hash --flat --type sha256 /dev/stdin",
                        "Hashes a tree's NAR serialisation.",
                    ),
                    (
                        "nix-store --export $(nix-store -qR P) > closure.nar",
                        "Writes a closure in Nix's export format (nix-store --import reads it).",
                    ),
                ],
            ),
        ]),
        "nix-hash" => Some(&[
            ("ENVIRONMENT", &[CONFIG]),
            STATUS,
            (
                "EXAMPLES",
                &[
                    (
                        "nix-hash --type sha256 --base32 ./src",
                        "The hash of a tree's NAR serialisation, as Nix prints store hashes.",
                    ),
                    (
                        "nix-hash --flat --type sha256 file.tar.gz",
                        "The hash of a file's contents.",
                    ),
                    (
                        "nix-hash --to-base32 --type sha256 HASH",
                        "Converts a base-16 hash.",
                    ),
                ],
            ),
        ]),
        _ => None,
    }
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
