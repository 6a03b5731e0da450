//! `nix-hash`: hash files and trees (NAR serialisation by default, or flat
//! contents) and convert hashes between encodings, as C++ Nix's `nix-hash`.
//! Besides the flags of Nix 2.8 it takes newer Nix's `--base64`, `--sri`,
//! `--to-base64` and `--to-sri`, and `--to-*` read the algorithm from a
//! prefixed hash when `--type` is absent (as newer Nix does).

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};

use super::legacy_args;
use super::CliError;
use crate::hash::{Hash, HashAlgo, HashFormat};
use crate::hash_pipeline::PipelinedHasher;
use crate::nar::fs::dump_path_with;
use crate::os_error;

const FORMAT_FLAGS: &[(&str, HashFormat, bool, &str)] = &[
    (
        "base16",
        HashFormat::Base16,
        false,
        "Print the hash in base-16 (the default)",
    ),
    (
        "base32",
        HashFormat::Nix32,
        false,
        "Print the hash in Nix's base-32",
    ),
    (
        "base64",
        HashFormat::Base64,
        false,
        "Print the hash in base-64",
    ),
    (
        "sri",
        HashFormat::Sri,
        false,
        "Print the hash in SRI form (algo-base64)",
    ),
    (
        "to-base16",
        HashFormat::Base16,
        true,
        "Convert the given hashes to base-16",
    ),
    (
        "to-base32",
        HashFormat::Nix32,
        true,
        "Convert the given hashes to Nix's base-32",
    ),
    (
        "to-base64",
        HashFormat::Base64,
        true,
        "Convert the given hashes to base-64",
    ),
    (
        "to-sri",
        HashFormat::Sri,
        true,
        "Convert the given hashes to SRI form",
    ),
];

/// The clap definition of `nix-hash`.
pub fn command() -> Command {
    let mut cmd = Command::new("nix-hash")
        .disable_version_flag(true)
        .arg(
            Arg::new("version")
                .long("version")
                .action(ArgAction::SetTrue)
                .help("Print the version (C++ Nix's line, then oxnix's)"),
        )
        .about("Compute the cryptographic hash of a path, or convert a hash between encodings")
        .arg(
            Arg::new("flat")
                .long("flat")
                .action(ArgAction::SetTrue)
                .help("Hash the contents of a regular file instead of its NAR serialisation"),
        )
        .arg(
            Arg::new("truncate")
                .long("truncate")
                .action(ArgAction::SetTrue)
                .help("Fold the hash to 160 bits by XOR (as store path hashes)"),
        )
        .arg(
            Arg::new("type")
                .long("type")
                .value_name("ALGO")
                .value_parser(["md5", "sha1", "sha256", "sha512"])
                .hide_possible_values(false)
                .help("Hash algorithm: md5 (default), sha1, sha256 or sha512"),
        );
    for (name, _, _, help) in FORMAT_FLAGS {
        cmd = cmd.arg(
            Arg::new(*name)
                .long(*name)
                .action(ArgAction::SetTrue)
                .help(*help),
        );
    }
    let cmd = cmd.arg(
        Arg::new("args")
            .value_name("PATH_OR_HASH")
            .num_args(0..)
            .value_parser(clap::value_parser!(OsString))
            .value_hint(clap::ValueHint::AnyPath)
            .help("Paths to hash, or with --to-*, hashes to convert"),
    );
    legacy_args::add_common(cmd, false)
}

/// Runs `nix-hash` with `args` (without the program name).
pub fn run(args: Vec<OsString>) -> Result<(), CliError> {
    let mut algo = None;
    let mut flat = false;
    let mut truncate = false;
    // Like C++ Nix, the last format flag on the command line decides the
    // format, and any --to-* flag switches to conversion.
    let mut format = HashFormat::Base16;
    let mut convert = false;
    let mut inputs: Vec<OsString> = Vec::new();
    let common = legacy_args::parse(args, false, |arg, w| {
        let a = arg.to_string_lossy();
        super::help_or_version(&a, "nix-hash", command)?;
        match a.as_ref() {
            "--flat" => flat = true,
            "--truncate" => truncate = true,
            "--type" => {
                let name = w.value_str(&a)?;
                algo =
                    Some(HashAlgo::from_name(&name).map_err(|e| CliError::Usage(e.to_string()))?);
            }
            s if s.starts_with("--") => {
                let Some((_, f, to, _)) = FORMAT_FLAGS.iter().find(|(n, ..)| s[2..] == **n) else {
                    return Ok(false);
                };
                format = *f;
                convert |= *to;
            }
            s if s.starts_with('-') => return Ok(false),
            _ => inputs.push(arg.to_owned()),
        }
        Ok(true)
    })?;

    let stdout = io::stdout();
    let mut out = stdout.lock();
    let print = |out: &mut io::StdoutLock, h: Hash| {
        writeln!(out, "{}", h.encode(format)).map_err(CliError::failed)
    };
    if convert {
        for s in &inputs {
            let s = s.to_string_lossy();
            let h = Hash::parse_any(&s, algo).map_err(CliError::failed)?;
            print(&mut out, h)?;
        }
        return Ok(());
    }
    let algo = algo.unwrap_or(HashAlgo::Md5);
    for p in &inputs {
        let path = PathBuf::from(p);
        let mut h = if flat {
            hash_flat(&path, algo)?
        } else {
            hash_nar_with(&path, algo, common.settings.get_bool("use-case-hack"))?
        };
        if truncate && h.digest().len() > 20 {
            h = h.truncate(20);
        }
        print(&mut out, h)?;
    }
    Ok(())
}

/// The hash of the NAR serialisation of `path`.
pub fn hash_nar(path: &Path, algo: HashAlgo) -> Result<Hash, CliError> {
    hash_nar_with(path, algo, false)
}

/// [`hash_nar`], with C++ Nix's `use-case-hack` names.
fn hash_nar_with(path: &Path, algo: HashAlgo, case_hack: bool) -> Result<Hash, CliError> {
    let hasher =
        dump_path_with(path, PipelinedHasher::new(algo), case_hack).map_err(CliError::failed)?;
    hasher.finish().map_err(CliError::failed)
}

/// The hash of the contents of the regular file `path`.
pub fn hash_flat(path: &Path, algo: HashAlgo) -> Result<Hash, CliError> {
    let mut f = File::open(path).map_err(|e| {
        CliError::Failed(format!(
            "opening file '{}': {}",
            path.display(),
            os_error::message(&e)
        ))
    })?;
    Hash::of_reader(algo, &mut f)
        .map_err(|e| CliError::Failed(format!("reading from file: {}", os_error::message(&e))))
}
