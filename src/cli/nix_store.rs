//! `nix-store`: for now the file-system operations `--dump` (write the NAR
//! of any path to stdout) and `--restore` (create a path from a NAR on
//! stdin). The other operations of C++ Nix's `nix-store` are recognised and
//! answer "not supported yet" until the store exists.

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use clap::{Arg, ArgAction, Command};

use super::{clap_failure, CliError};
use crate::nar::fs::{check_dumpable, dump_path, restore};

/// Operations this build implements.
const SUPPORTED: &[(&str, Option<char>, &str)] = &[
    (
        "dump",
        None,
        "Write the NAR serialisation of PATH to standard output",
    ),
    (
        "restore",
        None,
        "Create PATH from a NAR read on standard input",
    ),
];

/// Operations of C++ Nix's `nix-store` that are not implemented yet.
const NOT_YET: &[(&str, Option<char>)] = &[
    ("realise", Some('r')),
    ("add", None),
    ("add-fixed", None),
    ("delete", None),
    ("query", Some('q')),
    ("read-log", Some('l')),
    ("dump-db", None),
    ("load-db", None),
    ("print-env", None),
    ("gc", None),
    ("export", None),
    ("import", None),
    ("init", None),
    ("verify", None),
    ("verify-path", None),
    ("repair-path", None),
    ("optimise", None),
    ("serve", None),
    ("generate-binary-cache-key", None),
];

/// The clap definition of `nix-store`.
pub fn command() -> Command {
    let mut cmd = Command::new("nix-store")
        .version(concat!("(oxnix) ", env!("CARGO_PKG_VERSION")))
        .about("Manipulate or query the Nix store (oxnix: NAR dump and restore so far)");
    for (name, short, help) in SUPPORTED {
        let mut a = Arg::new(*name)
            .long(*name)
            .action(ArgAction::SetTrue)
            .help(*help);
        if let Some(c) = short {
            a = a.short(*c);
        }
        cmd = cmd.arg(a);
    }
    for (name, short) in NOT_YET {
        let mut a = Arg::new(*name)
            .long(*name)
            .action(ArgAction::SetTrue)
            .help("Not supported yet by oxnix");
        if let Some(c) = short {
            a = a.short(*c);
        }
        cmd = cmd.arg(a);
    }
    cmd.arg(
        Arg::new("args")
            .value_name("ARG")
            .num_args(0..)
            .allow_hyphen_values(true)
            .trailing_var_arg(true)
            .value_parser(clap::value_parser!(OsString))
            .value_hint(clap::ValueHint::AnyPath)
            .help("Arguments of the operation (a path for --dump and --restore)"),
    )
}

/// Runs `nix-store` with `args` (without the program name).
pub fn run(args: Vec<OsString>) -> Result<(), CliError> {
    let m = match command()
        .try_get_matches_from(std::iter::once(OsString::from("nix-store")).chain(args))
    {
        Ok(m) => m,
        Err(e) => return clap_failure(e),
    };
    let ops: Vec<&str> = SUPPORTED
        .iter()
        .map(|(n, ..)| *n)
        .chain(NOT_YET.iter().map(|(n, _)| *n))
        .filter(|n| m.get_flag(n))
        .collect();
    let op = match ops.as_slice() {
        [] => return Err(CliError::Usage("no operation specified".into())),
        [op] => *op,
        _ => {
            return Err(CliError::Usage(
                "only one operation may be specified".into(),
            ))
        }
    };
    let operands: Vec<PathBuf> = m
        .get_many::<OsString>("args")
        .map(|v| v.map(PathBuf::from).collect())
        .unwrap_or_default();
    match op {
        "dump" => dump(&operands),
        "restore" => restore_op(&operands),
        other => Err(CliError::Failed(format!(
            "not supported yet: nix-store --{other} (oxnix implements --dump and --restore so far)"
        ))),
    }
}

fn single(operands: &[PathBuf]) -> Result<&PathBuf, CliError> {
    match operands {
        [p] => Ok(p),
        _ => Err(CliError::Usage("only one argument allowed".into())),
    }
}

fn dump(operands: &[PathBuf]) -> Result<(), CliError> {
    let path = single(operands)?;
    // Fail before writing anything when the path is missing.
    check_dumpable(path).map_err(CliError::failed)?;
    let stdout = io::stdout();
    let out = BufWriter::with_capacity(32 * 1024, stdout.lock());
    let mut out = dump_path(path, out).map_err(CliError::failed)?;
    out.flush().map_err(CliError::failed)
}

fn restore_op(operands: &[PathBuf]) -> Result<(), CliError> {
    let path = single(operands)?;
    restore(io::stdin().lock(), path).map_err(CliError::failed)
}
