//! `nix-store`: `--dump`/`--restore` on any path, and the store operations
//! on oxnix's own store (see [`crate::store`]), printing what C++ Nix
//! prints. [`OPERATIONS`] lists every operation of C++ Nix 2.8's
//! `nix-store`: those implemented (their help is the `--help` text), and
//! the others, which are recognised and answer "not supported yet". The
//! store is chosen by `--store ADDRESS`, else `$OXNIX_STORE`, else a sled
//! store in `$OXNIX_STORE_DIR`, `$XDG_DATA_HOME/oxnix` or
//! `~/.local/share/oxnix` (see [`super::store_env`]).

use crate::log;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use clap::{Arg, ArgAction, Command};

use super::legacy_args;
use super::store_env::store_dir;
use super::CliError;
use crate::hash::{HashAlgo, HashFormat};
use crate::nar::fs::{check_dumpable, dump_path_with, restore_with};
use crate::store::any::{AnyAddress, AnyStore};
use crate::store::local::LocalStore;
use crate::store::{gc, validity, Store, StoreError};
use crate::store_path::{IngestionMethod, StoreDir, StorePath};

mod build_logs;
mod serve;
mod signing_keys;

/// An operation of C++ Nix's `nix-store`.
pub struct Operation {
    /// `--NAME`.
    pub name: &'static str,
    /// `-C`, if it has one.
    pub short: Option<char>,
    /// What it does; `None` for an operation oxnix does not implement yet.
    pub help: Option<&'static str>,
}

const fn op(name: &'static str, short: Option<char>, help: &'static str) -> Operation {
    Operation {
        name,
        short,
        help: Some(help),
    }
}

/// Every operation of C++ Nix 2.8's `nix-store`, with its help (`None`
/// would mark one this build does not implement: there is none left).
pub const OPERATIONS: &[Operation] = &[
    op(
        "print-env",
        None,
        "Print the environment of a derivation as shell variable assignments",
    ),
    op(
        "dump",
        None,
        "Write the NAR serialisation of PATH to standard output (from the store for a valid store path)",
    ),
    op(
        "restore",
        None,
        "Create PATH from a NAR read on standard input",
    ),
    op(
        "add",
        None,
        "Add the PATHs to the store (recursive SHA-256) and print their store paths",
    ),
    op(
        "add-fixed",
        None,
        "Add the PATHs as fixed-output paths of hash ALGO (first argument); see --recursive",
    ),
    op(
        "query",
        Some('q'),
        "Query the store: with --hash, --size, --references, --referrers, --referrers-closure, --requisites, --tree, --graph or --deriver",
    ),
    op(
        "verify-path",
        None,
        "Check that the contents of the store PATHs still have their recorded NAR hash",
    ),
    op(
        "delete",
        None,
        "Delete the store PATHs (with the paths among them referring to them), unless still alive (referred to by other paths, or, without --ignore-liveness, by garbage collector roots), then the store data nothing refers to",
    ),
    op(
        "export",
        None,
        "Write the store PATHs to standard output in Nix's export format",
    ),
    op(
        "import",
        None,
        "Import paths in Nix's export format from standard input and print them",
    ),
    op(
        "check-validity",
        None,
        "Check that the store PATHs are valid (with --print-invalid: print the invalid ones instead of failing)",
    ),
    op(
        "print-fixed-path",
        None,
        "Print the store path of a fixed-output path from ALGO, HASH and NAME (with --recursive: of a NAR hash)",
    ),
    op(
        "realise",
        Some('r'),
        "Print the outputs of valid paths and of derivations whose outputs are valid (oxnix does not build; with --dry-run, what would be built)",
    ),
    op(
        "optimise",
        None,
        "Hard-link identical files of C++ Nix's local store into its .links directory and report the space freed (oxnix's store keeps each content once: nothing to link; through C++ Nix's daemon, the daemon does it)",
    ),
    op(
        "read-log",
        Some('l'),
        "Print the build log C++ Nix kept of each derivation PATH (of its deriver for an output path), from its local store's log directory",
    ),
    op(
        "dump-db",
        None,
        "Print the validity registrations of the PATHs (of every valid path without any): path, NAR hash, NAR size, deriver, references",
    ),
    op(
        "load-db",
        None,
        "Register the paths of --dump-db output read on standard input; contents not stored yet are read from the store directory and must have the NAR hash given (not through C++ Nix's daemon: 2.8's error)",
    ),
    op(
        "register-validity",
        None,
        "Register paths read on standard input (path, deriver, references; with --hash-given also NAR hash and size), their contents read from the store directory; with --reregister also valid ones (not through C++ Nix's daemon: 2.8's error)",
    ),
    op(
        "gc",
        None,
        "Delete the paths no garbage collector root keeps alive, then the store data nothing refers to (up to --max-freed BYTES); with --print-roots, --print-live or --print-dead: print the roots, or the paths they keep alive, or the others",
    ),
    op("init", None, "Create the store if it does not exist yet"),
    op(
        "verify",
        None,
        "Check the store's database against its data (on C++ Nix's local store, vanished paths are removed from it); with --check-contents, also every path's NAR hash (--repair repairs nothing: oxnix cannot fetch paths again); through C++ Nix's daemon, the daemon checks (and, for a trusted user, repairs)",
    ),
    op(
        "repair-path",
        None,
        "Repair the store PATHs (oxnix has no substituters: checks them, then fails as C++ Nix without substituters does; -v says what was found; through C++ Nix's daemon, 2.8's error)",
    ),
    op(
        "serve",
        None,
        "Serve the store on standard input and output with C++ Nix's serve protocol (nix-copy-closure, ssh:// stores); importing and adding paths only with --write; oxnix does not build",
    ),
    op(
        "generate-binary-cache-key",
        None,
        "Write a new Ed25519 key pair named NAME to SECRET-FILE and PUBLIC-FILE (NAME:BASE64, as C++ Nix's binary cache signatures use)",
    ),
];

/// Other spellings of operations (C++ Nix's aliases).
const OP_ALIASES: &[(&str, &str)] = &[
    ("--realize", "realise"),
    ("--optimize", "optimise"),
    ("-A", "add"),
];

/// Query types of `--query` (name, short flag, help).
const QUERIES: &[(&str, Option<char>, &str)] = &[
    (
        "hash",
        None,
        "With --query: print the NAR hash (sha256, nix32)",
    ),
    ("size", None, "With --query: print the NAR size in bytes"),
    (
        "references",
        None,
        "With --query: print the paths the PATHs refer to",
    ),
    (
        "referrers",
        None,
        "With --query: print the paths referring to the PATHs",
    ),
    (
        "referrers-closure",
        None,
        "With --query: print the paths referring to the PATHs, transitively",
    ),
    (
        "requisites",
        Some('R'),
        "With --query: print the closure of the PATHs",
    ),
    (
        "tree",
        None,
        "With --query: print the references of the PATHs as a tree",
    ),
    (
        "graph",
        None,
        "With --query: print the closure of the PATHs as a Graphviz graph",
    ),
    (
        "deriver",
        None,
        "With --query: print the derivation that produced the PATHs",
    ),
    (
        "outputs",
        None,
        "With --query: print the output paths of derivations (other paths as they are; the default)",
    ),
    (
        "binding",
        Some('b'),
        "With --query: print the value of the derivations' environment variable NAME (first argument)",
    ),
    (
        "resolve",
        None,
        "With --query: print the store paths the arguments (symlinks into the store) lead to",
    ),
    (
        "graphml",
        None,
        "With --query: print the closure of the PATHs as GraphML",
    ),
    (
        "roots",
        None,
        "With --query: print the garbage collector roots leading to the PATHs",
    ),
    (
        "use-output",
        Some('u'),
        "With --query: apply the query to the outputs of derivations",
    ),
    (
        "force-realise",
        Some('f'),
        "With --query: realise the paths first (valid paths only)",
    ),
    (
        "include-outputs",
        None,
        "With --query --requisites: include the outputs of derivations in the closure",
    ),
];

fn flag(name: &'static str, short: Option<char>, help: &'static str) -> Arg {
    let mut a = Arg::new(name)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help);
    if let Some(c) = short {
        a = a.short(c);
    }
    a
}

/// The clap definition of `nix-store`.
pub fn command() -> Command {
    let mut cmd = Command::new("nix-store")
        .about("Manipulate or query the Nix store (oxnix: its own content-addressed store)")
        .disable_version_flag(true)
        .arg(flag(
            "version",
            None,
            "Print the version (C++ Nix's line, then oxnix's)",
        ));
    for o in OPERATIONS {
        cmd = cmd.arg(flag(
            o.name,
            o.short,
            o.help.unwrap_or("Not supported yet by oxnix"),
        ));
    }
    for (name, short, help) in QUERIES {
        cmd = cmd.arg(flag(name, *short, help));
    }
    let cmd = cmd
        .arg(flag(
            "recursive",
            None,
            "With --add-fixed: hash the NAR serialisation, not the file's contents",
        ))
        .arg(
            Arg::new("add-root")
                .long("add-root")
                .value_name("PATH")
                .value_hint(clap::ValueHint::AnyPath)
                .help(
                    "Make PATH a symlink to the result and register it as a garbage collector root",
                ),
        )
        .arg(flag("indirect", None, "Accepted for compatibility"))
        .arg(flag(
            "print-roots",
            None,
            "With --gc: print the garbage collector roots (LINK -> PATH) instead of deleting",
        ))
        .arg(flag(
            "print-live",
            None,
            "With --gc: print the paths the roots keep alive instead of deleting",
        ))
        .arg(flag(
            "print-dead",
            None,
            "With --gc: print the paths no root keeps alive instead of deleting them",
        ))
        .arg(
            Arg::new("max-freed")
                .long("max-freed")
                .value_name("BYTES")
                .help("With --gc: stop deleting paths once this many bytes are freed (suffixes K, M, G, T)"),
        )
        .arg(flag(
            "ignore-liveness",
            None,
            "With --delete: ignore the garbage collector roots (paths still referred to stay)",
        ))
        .arg(flag(
            "reregister",
            None,
            "With --register-validity: register valid paths again too",
        ))
        .arg(flag(
            "hash-given",
            None,
            "With --register-validity: the input gives each path's NAR hash and size",
        ))
        .arg(flag("no-output", None, "With --realise: print nothing"))
        .arg(
            Arg::new("args")
                .value_name("ARG")
                .num_args(0..)
                .value_parser(clap::value_parser!(OsString))
                .value_hint(clap::ValueHint::AnyPath)
                .help(
                    "Arguments of the operation (paths; for --add-fixed the hash algorithm first)",
                ),
        );
    legacy_args::add_common(cmd, false)
}

/// Runs `nix-store` with `args` (without the program name): C++ Nix's
/// grammar, one operation, its flags and its arguments in any order.
pub fn run(args: Vec<OsString>) -> Result<(), CliError> {
    let mut op: Option<&'static str> = None;
    let mut op_flags: Vec<String> = Vec::new();
    let mut operands: Vec<PathBuf> = Vec::new();
    let mut add_root = None;
    let mut no_output = false;
    let common = legacy_args::parse(args, false, |arg, w| {
        let old = op;
        let a = arg.to_string_lossy();
        let named = |long: &str| {
            OPERATIONS
                .iter()
                .find(|o| {
                    long.strip_prefix("--") == Some(o.name)
                        || o.short.is_some_and(|c| long == format!("-{c}"))
                })
                .map(|o| o.name)
                .or_else(|| OP_ALIASES.iter().find(|(a, _)| *a == long).map(|(_, n)| *n))
        };
        match a.as_ref() {
            "--help" => {
                print!("{}", command().render_help());
                return Err(CliError::Exit(0));
            }
            "--version" => op = Some("version"),
            "--add-root" => add_root = Some(w.value(&a)?),
            "--indirect" => {}
            "--no-output" => no_output = true,
            s if named(s).is_some() => op = named(s),
            s if s.starts_with('-') => {
                op_flags.push(s.to_owned());
                if matches!(s, "--max-freed" | "--max-links" | "--max-atime") {
                    op_flags.push(w.value_str(s)?);
                }
            }
            _ => operands.push(PathBuf::from(arg)),
        }
        if old.is_some() && old != op {
            return Err(CliError::Usage(
                "only one operation may be specified".into(),
            ));
        }
        Ok(true)
    })?;
    let Some(op) = op else {
        return Err(CliError::Usage("no operation specified".into()));
    };
    let ctx = Context {
        op: op.to_owned(),
        flags: &op_flags,
        store: common.store.clone(),
        gc_warning: !common.no_gc_warning && add_root.is_none(),
        add_root: add_root
            .map(|r| std::path::absolute(PathBuf::from(&r)).unwrap_or_else(|_| PathBuf::from(r))),
        no_output,
        verbosity: common.verbosity,
        case_hack: common.settings.get_bool("use-case-hack"),
        // C++ Nix keeps derivations unless told not to.
        keep_derivations: common.settings.get("keep-derivations") != Some("false"),
        keep_outputs: common.settings.get_bool("keep-outputs"),
    };
    let plain = |f: &dyn Fn(&[PathBuf]) -> Result<(), CliError>| {
        if !op_flags.is_empty() {
            return Err(CliError::Usage("unknown flag".into()));
        }
        f(&operands)
    };
    match op {
        "version" => {
            super::print_version("nix-store");
            Ok(())
        }
        "dump" => plain(&|o| ctx.dump(o)),
        "restore" => plain(&|o| restore_op(o, ctx.case_hack)),
        "add" => plain(&|o| ctx.add(o)),
        "add-fixed" => ctx.add_fixed(&operands),
        "query" => ctx.query(operands),
        "verify-path" => plain(&|o| ctx.verify_path(o)),
        "delete" => ctx.delete(&operands),
        "export" => plain(&|o| ctx.export(o)),
        "import" => plain(&|o| ctx.import(o)),
        "print-env" => plain(&|o| ctx.print_env(o)),
        "check-validity" => ctx.check_validity(&operands),
        "print-fixed-path" => ctx.print_fixed_path(&operands),
        "realise" => ctx.realise(&operands),
        "optimise" => ctx.optimise(&operands),
        "init" => plain(&|o| {
            if !o.is_empty() {
                return Err(CliError::Usage("no arguments expected".into()));
            }
            ctx.open_any().map(|_| ())
        }),
        "gc" => ctx.gc(&operands),
        "dump-db" => plain(&|o| ctx.dump_db(o)),
        "load-db" => ctx.register_validity(&operands, true),
        "register-validity" => ctx.register_validity(&operands, false),
        "repair-path" => ctx.repair_path(&operands),
        "verify" => ctx.verify(&operands),
        "read-log" => plain(&|o| ctx.read_log(o)),
        "serve" => ctx.serve(&operands),
        "generate-binary-cache-key" => signing_keys::generate(&op_flags, &operands),
        other => Err(CliError::Failed(format!(
            "not supported yet: nix-store --{other} (oxnix implements {} so far)",
            implemented_operations()
        ))),
    }
}

/// The operations this build implements, as a list for a message:
/// `--a, --b and --c`.
fn implemented_operations() -> String {
    let names: Vec<String> = OPERATIONS
        .iter()
        .filter(|o| o.help.is_some())
        .map(|o| format!("--{}", o.name))
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// A size argument as C++ Nix reads one (`10`, `10K`, `2G`, …).
fn size_with_unit(v: &str) -> Result<u64, CliError> {
    let mut digits = v;
    let mut multiplier = 1u64;
    if let Some(last) = v.chars().last().filter(char::is_ascii_alphabetic) {
        multiplier = match last.to_ascii_uppercase() {
            'K' => 1 << 10,
            'M' => 1 << 20,
            'G' => 1 << 30,
            'T' => 1 << 40,
            u => {
                return Err(CliError::Usage(format!("invalid unit specifier '{u}'")));
            }
        };
        digits = &v[..v.len() - 1];
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| CliError::Usage(format!("'{digits}' is not an integer")))
}

fn single(operands: &[PathBuf]) -> Result<&PathBuf, CliError> {
    match operands {
        [p] => Ok(p),
        _ => Err(CliError::Usage("only one argument allowed".into())),
    }
}

fn no_args(operands: &[PathBuf]) -> Result<(), CliError> {
    if operands.is_empty() {
        Ok(())
    } else {
        Err(CliError::Usage("no arguments expected".into()))
    }
}

/// `--verify-path`/`--verify --check-contents` on a path with a damaged
/// file: C++ Nix's "was modified!", saying what was found instead of the
/// hash it would print.
fn modified_damaged(
    store: &StoreDir,
    sp: &StorePath,
    file: &str,
    damage: crate::castore::BlobDamage,
) -> String {
    format!(
        "path '{}' was modified! the contents of '{file}' are damaged ({damage})",
        store.print(sp)
    )
}

fn store_error(e: StoreError) -> CliError {
    CliError::Failed(e.to_string())
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> CliError {
        store_error(e)
    }
}

/// `absPath` + `canonPath` as C++ Nix: absolute, `.` and `..` resolved
/// lexically, no trailing slash.
fn absolute(p: &Path) -> PathBuf {
    let base = if p.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
    };
    let mut out = PathBuf::from("/");
    for c in base.components().chain(p.components()) {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
        }
    }
    out
}

/// The store path `arg` denotes: itself, a path inside it, or a symlink
/// (chain) outside the store leading into it, as C++ Nix's
/// `followLinksToStorePath`.
fn follow_links_to_store_path(dir: &StoreDir, arg: &Path) -> Result<StorePath, CliError> {
    let in_store = |p: &Path| {
        p.as_os_str()
            .as_bytes()
            .strip_prefix(dir.as_str().as_bytes())
            .is_some_and(|rest| rest.starts_with(b"/") && rest.len() > 1)
    };
    let mut path = absolute(arg);
    let mut hops = 0;
    while !in_store(&path) {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| {
            CliError::Failed(format!(
                "getting status of '{}': {}",
                path.display(),
                crate::os_error::message(&e)
            ))
        })?;
        if !meta.file_type().is_symlink() || hops > 1024 {
            break;
        }
        hops += 1;
        let target = std::fs::read_link(&path).map_err(CliError::failed)?;
        let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
        path = absolute(&parent.join(target));
    }
    let s = path.to_string_lossy();
    let not_in_store = || CliError::Failed(format!("path '{s}' is not in the Nix store"));
    let rest = s
        .strip_prefix(dir.as_str())
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(not_in_store)?;
    let base = rest.split('/').next().unwrap_or("");
    dir.parse_path(&format!("{}/{base}", dir.as_str()))
        .map_err(CliError::failed)
}

/// Writes to stdout through a buffer; ends quietly on a closed pipe.
fn with_stdout(f: impl FnOnce(&mut dyn Write) -> Result<(), CliError>) -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    f(&mut out)?;
    out.flush().map_err(CliError::failed)
}

/// The daemon connection of a store opened by `Context::open_daemon`.
fn daemon(
    store: &AnyStore,
) -> Result<std::sync::MutexGuard<'_, crate::store::nix_daemon::DaemonClient>, CliError> {
    store
        .daemon_client()
        .ok_or_else(|| CliError::Failed("internal error: not the daemon".into()))
}

fn out_err(e: io::Error) -> CliError {
    CliError::failed(e)
}

struct Context<'a> {
    /// The operation's name (`dump`, `gc`, …).
    op: String,
    /// The operation's flags (`--recursive`, the query's, …), in order.
    flags: &'a [String],
    /// `--store`.
    store: Option<String>,
    /// Not `--no-gc-warning`.
    gc_warning: bool,
    /// The `use-case-hack` setting (`--dump`, `--restore`).
    case_hack: bool,
    /// `--add-root PATH` (absolute).
    add_root: Option<PathBuf>,
    /// `--no-output` (`--realise`).
    no_output: bool,
    /// `-v` raises, `--quiet` lowers (informational messages at 0 and up).
    verbosity: i32,
    /// The `keep-derivations` and `keep-outputs` settings (`--gc`).
    keep_derivations: bool,
    keep_outputs: bool,
}

/// C++ Nix's warning about a result without `--add-root`, printed once.
fn gc_warning_once() {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        super::print_warning(
            "you did not specify '--add-root'; the result might be removed by the garbage collector",
        );
    }
}

impl Context<'_> {
    fn address(&self) -> Result<crate::store::StoreAddress, CliError> {
        super::store_env::store_address(self.store.as_deref())
    }

    /// An informational message (hidden by `--quiet`).
    fn info(&self, msg: &str) {
        if self.verbosity >= 0 {
            log::message(log::Level::Info, msg);
        }
    }

    /// `--gc`: with `--print-roots`, `--print-live` or `--print-dead`
    /// print; otherwise delete the dead paths (up to `--max-freed`) and the
    /// castore data no remaining path needs.
    fn gc(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let mut action = None;
        let mut max_freed = u64::MAX;
        let mut flags = self.flags.iter();
        while let Some(f) = flags.next() {
            match f.as_str() {
                "--print-roots" | "--print-live" | "--print-dead" => action = Some(f.as_str()),
                "--max-freed" => {
                    let v = flags.next().map(String::as_str).unwrap_or_default();
                    // The command line has made sure there is a value.
                    max_freed = size_with_unit(v)?;
                }
                other => {
                    return Err(CliError::Usage(format!(
                        "bad sub-operation '{other}' in GC"
                    )))
                }
            }
        }
        if !operands.is_empty() {
            return Err(CliError::Usage("no arguments expected".into()));
        }
        if let Some(result) = self.gc_through_daemon(action, max_freed, None, false) {
            return result;
        }
        if let Some(local) = self.open_local()? {
            return self.gc_local(&local, action, max_freed, BTreeSet::new(), false);
        }
        let store = self.open()?;
        let Some(action) = action else {
            return self.collect(&store, &gc::Target::Dead, max_freed, false);
        };
        if action == "--print-roots" {
            let roots = self.find_roots(&store)?;
            return with_stdout(|out| {
                for (target, links) in &roots {
                    for link in links {
                        writeln!(out, "{} -> {}", link.display(), store.print(target))
                            .map_err(out_err)?;
                    }
                }
                Ok(())
            });
        }
        log::message(log::Level::Info, "finding garbage collector roots...");
        let roots = self.find_roots(&store)?;
        log::message(log::Level::Info, "determining live/dead paths...");
        let live = self.live_paths(&store, roots.into_keys().collect())?;
        let printed: BTreeSet<String> = if action == "--print-live" {
            live.iter().map(|p| store.print(p)).collect()
        } else {
            store
                .path_infos
                .list()
                .map_err(store_error)?
                .into_iter()
                .filter(|i| !live.contains(&i.store_path))
                .map(|i| store.print(&i.store_path))
                .collect()
        };
        with_stdout(|out| {
            for p in &printed {
                writeln!(out, "{p}").map_err(out_err)?;
            }
            Ok(())
        })
    }

    /// Deletes `target` (dead paths, or given ones) and the castore data
    /// left unreferenced, printing what C++ Nix prints: the paths deleted
    /// (stderr), "N store paths deleted, X MiB freed" (stdout, also when a
    /// path given is still alive). The bytes freed are those the castore
    /// frees (see [`crate::store::gc`]).
    fn collect(
        &self,
        store: &Store,
        target: &gc::Target,
        max_freed: u64,
        ignore_liveness: bool,
    ) -> Result<(), CliError> {
        // The roots are read under the collector's lock, in `live`; C++
        // Nix says so first.
        self.info("finding garbage collector roots...");
        let opts = gc::GcOptions {
            max_freed,
            // This process holds the store's lock and adds nothing
            // meanwhile: nothing is in flight (see `store::gc`).
            grace: std::time::Duration::ZERO,
            keep_derivations: self.keep_derivations,
            keep_outputs: self.keep_outputs,
        };
        let dead = matches!(target, gc::Target::Dead);
        let report = gc::collect(
            store,
            target,
            &opts,
            |store| -> Result<BTreeSet<StorePath>, CliError> {
                if ignore_liveness {
                    return Ok(BTreeSet::new());
                }
                let roots = self.find_roots(store)?;
                if dead && max_freed > 0 {
                    self.info("deleting garbage...");
                }
                self.live_paths(store, roots.into_keys().collect())
            },
            &mut |event| match event {
                gc::Event::Deleting(p) => self.info(&format!("deleting '{}'", store.print(p))),
                gc::Event::Stopping(n) => {
                    self.info(&format!("deleted more than {n} bytes; stopping"))
                }
            },
        )?;
        if report.still_alive.is_none() {
            self.info("deleting unused links...");
            self.info(&format!(
                "note: currently hard linking saves {:.2} MiB",
                report.sharing_saves as f64 / (1024.0 * 1024.0)
            ));
        }
        if self.verbosity >= 1 {
            log::message(
                log::Level::Info,
                &format!(
                    "removed {} blobs and {} directories from the castore",
                    report.blobs_removed, report.directories_removed
                ),
            );
        }
        println!(
            "{} store paths deleted, {:.2} MiB freed",
            report.deleted.len(),
            report.bytes_freed as f64 / (1024.0 * 1024.0)
        );
        match report.still_alive {
            Some(p) => Err(CliError::Failed(format!(
                "Cannot delete path '{}' since it is still alive. To find out why, use: nix-store --query --roots",
                store.print(&p)
            ))),
            None => Ok(()),
        }
    }

    /// `--gc` and `--delete` on C++ Nix's local store: Nix 2.8's collector
    /// (see [`crate::store::local::gc`]), printing what its `nix-store`
    /// prints.
    fn gc_local(
        &self,
        local: &LocalStore,
        action: Option<&str>,
        max_freed: u64,
        delete: BTreeSet<StorePath>,
        ignore_liveness: bool,
    ) -> Result<(), CliError> {
        use crate::store::local::gc::{GcAction, GcOptions, GcResults};
        let info = |m: &str| self.info(m);
        if action == Some("--print-roots") {
            let roots = local.find_roots(false, &info).map_err(store_error)?;
            let pairs: BTreeSet<(String, String)> = roots
                .iter()
                .flat_map(|(target, links)| {
                    links
                        .iter()
                        .map(|l| (l.display().to_string(), local.print(target)))
                })
                .collect();
            return with_stdout(|out| {
                for (link, target) in &pairs {
                    writeln!(out, "{link} -> {target}").map_err(out_err)?;
                }
                Ok(())
            });
        }
        let specific = !delete.is_empty() || action == Some("--delete");
        let options = GcOptions {
            action: match action {
                _ if specific => GcAction::DeleteSpecific,
                Some("--print-live") => GcAction::ReturnLive,
                Some("--print-dead") => GcAction::ReturnDead,
                _ => GcAction::DeleteDead,
            },
            paths_to_delete: delete,
            ignore_liveness,
            max_freed,
            keep_derivations: self.keep_derivations,
            keep_outputs: self.keep_outputs,
        };
        let mut results = GcResults::default();
        let r = local.collect_garbage(&options, &mut results, &info);
        match options.action {
            GcAction::DeleteDead | GcAction::DeleteSpecific => println!(
                "{} store paths deleted, {:.2} MiB freed",
                results.paths.len(),
                results.bytes_freed as f64 / (1024.0 * 1024.0)
            ),
            _ if r.is_ok() => with_stdout(|out| {
                for p in &results.paths {
                    writeln!(out, "{p}").map_err(out_err)?;
                }
                Ok(())
            })?,
            _ => {}
        }
        match r {
            Err(StoreError::StillAlive(p)) => Err(CliError::Failed(format!(
                "Cannot delete path '{p}' since it is still alive. To find out why, use: nix-store --query --roots"
            ))),
            r => r.map_err(store_error),
        }
    }

    /// Where the local store's maintenance writes its messages, as C++
    /// Nix's `nix-store` does (informational ones hidden by `--quiet`,
    /// talkative ones shown by `-v`).
    fn messages(&self) -> crate::store::local::maintain::Messages<'_> {
        crate::store::local::maintain::Messages {
            info: self.info_fn(),
            talk: if self.verbosity >= 1 {
                &|m: &str| log::message(log::Level::Info, m)
            } else {
                &|_: &str| {}
            },
            error: &|m: &str| log::message(log::Level::Error, m),
            error_labelled: &|m: &str| log::error(m),
            warning: &|m: &str| log::warning(m),
        }
    }

    fn info_fn(&self) -> &dyn Fn(&str) {
        if self.verbosity >= 0 {
            &|m: &str| log::message(log::Level::Info, m)
        } else {
            &|_: &str| {}
        }
    }

    /// Whether the operation's one flag `name` was given; any other flag
    /// is C++ Nix's usage error.
    fn only_flag(&self, name: &str) -> Result<bool, CliError> {
        let mut given = false;
        for f in self.flags {
            if f != name {
                return Err(CliError::Usage(format!("unknown flag '{f}'")));
            }
            given = true;
        }
        Ok(given)
    }

    /// C++ Nix's local store, when the store is that.
    fn open_local(&self) -> Result<Option<LocalStore>, CliError> {
        match super::store_env::any_address(self.store.as_deref())? {
            AnyAddress::Local(c) => Ok(Some(LocalStore::open(c).map_err(store_error)?)),
            _ => Ok(None),
        }
    }

    /// The store when it is C++ Nix's daemon (connected), with its address.
    fn open_daemon(&self) -> Result<Option<(AnyStore, AnyAddress)>, CliError> {
        let address = super::store_env::any_address(self.store.as_deref())?;
        if !matches!(address, AnyAddress::Daemon { .. }) {
            return Ok(None);
        }
        let store = AnyStore::open(&address, store_dir()?).map_err(store_error)?;
        Ok(Some((store, address)))
    }

    /// `--gc` and `--delete` when the store is C++ Nix's daemon: its own
    /// collector does the work (it knows every root); we print what C++
    /// Nix's client prints. `None` when the store is not the daemon.
    fn gc_through_daemon(
        &self,
        action: Option<&str>,
        max_freed: u64,
        delete: Option<BTreeSet<StorePath>>,
        ignore_liveness: bool,
    ) -> Option<Result<(), CliError>> {
        let address = match super::store_env::any_address(self.store.as_deref()) {
            Ok(a) => a,
            Err(e) => return Some(Err(e)),
        };
        if !matches!(address, AnyAddress::Daemon { .. }) {
            return None;
        }
        Some((|| {
            let store = self.open_any()?;
            let Some(mut d) = store.daemon_client() else {
                return Err(CliError::Failed("internal error: not the daemon".into()));
            };
            if action == Some("--print-roots") {
                let mut roots = d.find_roots().map_err(store_error)?;
                roots.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
                return with_stdout(|out| {
                    for (link, target) in &roots {
                        writeln!(out, "{link} -> {}", store.print(target)).map_err(out_err)?;
                    }
                    Ok(())
                });
            }
            let (code, paths) = match (&delete, action) {
                (Some(p), _) => (3, p.clone()),
                (None, Some("--print-live")) => (0, BTreeSet::new()),
                (None, Some("--print-dead")) => (1, BTreeSet::new()),
                _ => (2, BTreeSet::new()),
            };
            let (found, freed) = d
                .collect_garbage(code, &paths, ignore_liveness, max_freed)
                .map_err(store_error)?;
            if code < 2 {
                let mut found = found;
                found.sort();
                return with_stdout(|out| {
                    for p in &found {
                        writeln!(out, "{p}").map_err(out_err)?;
                    }
                    Ok(())
                });
            }
            println!(
                "{} store paths deleted, {:.2} MiB freed",
                found.len(),
                freed as f64 / (1024.0 * 1024.0)
            );
            Ok(())
        })())
    }

    /// What the collector keeps: the closure of `roots`, with (per
    /// `keep-derivations`) the derivations live paths were built from and
    /// (per `keep-outputs`) the valid outputs of live derivations.
    fn live_paths(
        &self,
        store: &Store,
        roots: BTreeSet<StorePath>,
    ) -> Result<BTreeSet<StorePath>, CliError> {
        let mut live = BTreeSet::new();
        let mut work: Vec<StorePath> = roots.into_iter().collect();
        while let Some(p) = work.pop() {
            if live.contains(&p) || !store.is_valid(&p).map_err(store_error)? {
                continue;
            }
            let info = store.query(&p).map_err(store_error)?;
            live.insert(p.clone());
            work.extend(info.references.iter().cloned());
            if self.keep_derivations {
                work.extend(info.deriver.iter().cloned());
            }
            if self.keep_outputs && p.name().ends_with(".drv") {
                let drv = read_derivation_castore(store, &p)?;
                work.extend(drv.outputs.values().filter_map(|o| o.path.clone()));
            }
        }
        Ok(live)
    }

    /// The garbage collector roots of the store (C++ Nix's `findRoots`,
    /// without the roots of running processes).
    fn find_roots(&self, store: &Store) -> Result<crate::store::gc_roots::Roots, CliError> {
        let address = self.address()?;
        let Some(state) = address.state_dir() else {
            return Err(CliError::Failed(
                "not supported yet: garbage collector roots of a store in memory or behind a server".into(),
            ));
        };
        Ok(crate::store::gc_roots::find_roots(
            state,
            &store.store_dir,
            &mut |sp| store.is_valid(sp).unwrap_or(false),
            &mut |note| log::message(log::Level::Info, &note),
        ))
    }

    /// oxnix's own store, for the operations only it has (garbage
    /// collection, whole-store checks, registrations, imports); the
    /// operations handle C++ Nix's stores before they get here, so the
    /// "not supported yet" is for any left.
    fn open(&self) -> Result<Store, CliError> {
        match super::store_env::any_address(self.store.as_deref())? {
            AnyAddress::Oxnix(a) => Store::open(&a, store_dir()?).map_err(store_error),
            other => Err(CliError::Failed(format!(
                "not supported yet: nix-store --{} on C++ Nix's store '{other}' (oxnix does it on its own store; C++ Nix's nix-store does it there)",
                self.op
            ))),
        }
    }

    /// The store the operation works on, of any kind.
    fn open_any(&self) -> Result<AnyStore, CliError> {
        let address = super::store_env::any_address(self.store.as_deref())?;
        AnyStore::open(&address, store_dir()?).map_err(store_error)
    }

    /// [`Context::find_roots`] for any store: C++ Nix's roots of its local
    /// store, oxnix's of its own.
    fn find_roots_any(&self, store: &AnyStore) -> Result<crate::store::gc_roots::Roots, CliError> {
        if let Some(mut d) = store.daemon_client() {
            let mut roots = crate::store::gc_roots::Roots::new();
            for (link, target) in d.find_roots().map_err(store_error)? {
                roots.entry(target).or_default().insert(PathBuf::from(link));
            }
            return Ok(roots);
        }
        if let crate::store::any::Backend::Local(local) = &store.backend {
            return local
                .find_roots(false, &|m| self.info(m))
                .map_err(store_error);
        }
        let address = super::store_env::any_address(self.store.as_deref())?;
        let Some(state) = address.state_dir() else {
            return Err(CliError::Failed(
                "not supported yet: garbage collector roots of a store in memory or behind a server".into(),
            ));
        };
        Ok(crate::store::gc_roots::find_roots(
            &state,
            &store.store_dir,
            &mut |sp| store.is_valid(sp).unwrap_or(false),
            &mut |note| log::message(log::Level::Info, &note),
        ))
    }

    fn store_paths(
        &self,
        dir: &StoreDir,
        operands: &[PathBuf],
    ) -> Result<Vec<StorePath>, CliError> {
        operands
            .iter()
            .map(|p| follow_links_to_store_path(dir, p))
            .collect()
    }

    fn dump(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let path = single(operands)?;
        // A valid path of our store is rendered from the store; anything
        // else (including paths inside store paths) is dumped from disk.
        let dir = store_dir()?;
        if let Ok(sp) = dir.parse_path(&absolute(path).to_string_lossy()) {
            let store = self.open_any()?;
            if store.is_valid(&sp).map_err(store_error)? {
                return with_stdout(|out| store.nar(&sp, out).map(|_| ()).map_err(store_error));
            }
        }
        // Fail before writing anything when the path is missing.
        check_dumpable(path).map_err(CliError::failed)?;
        with_stdout(|out| {
            dump_path_with(path, out, self.case_hack)
                .map(|_| ())
                .map_err(CliError::failed)
        })
    }

    fn add(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        self.add_paths(operands, IngestionMethod::Recursive, HashAlgo::Sha256)
    }

    fn add_fixed(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let mut method = IngestionMethod::Flat;
        for f in self.flags {
            match f.as_str() {
                "--recursive" => method = IngestionMethod::Recursive,
                _ => return Err(CliError::Usage(format!("unknown flag '{f}'"))),
            }
        }
        let Some((algo, paths)) = operands.split_first() else {
            return Err(CliError::Usage(
                "first argument must be hash algorithm".into(),
            ));
        };
        let algo = HashAlgo::from_name(&algo.to_string_lossy()).map_err(CliError::failed)?;
        self.add_paths(paths, method, algo)
    }

    fn add_paths(
        &self,
        paths: &[PathBuf],
        method: IngestionMethod,
        algo: HashAlgo,
    ) -> Result<(), CliError> {
        let mut store = self.open_any()?;
        let progress = super::progress::Progress::on_terminal("adding");
        if let Some(castore) = store.castore_mut() {
            castore.progress = progress
                .clone()
                .map(|p| p as Arc<dyn crate::store::IngestProgress>);
        }
        for p in paths {
            // C++ Nix: the name is the last component of the argument, and
            // errors name the absolute path.
            let p = absolute(p);
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let sp = store
                .add_path(&p, &name, method, algo)
                .map_err(store_error)?;
            // Printed as each is added, as C++ Nix.
            let print = || -> Result<(), CliError> {
                let mut out = io::stdout().lock();
                writeln!(out, "{}", store.print(&sp)).map_err(out_err)?;
                out.flush().map_err(out_err)
            };
            match &progress {
                Some(p) => p.suspend(print)?,
                None => print()?,
            }
        }
        if let Some(p) = &progress {
            p.finish();
        }
        Ok(())
    }

    /// `--print-env DRV`: the derivation's environment as `export`
    /// lines, then its arguments as `_args`, as C++ Nix prints them.
    fn print_env(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let store = self.open_any()?;
        let [path] = operands else {
            return Err(CliError::Usage(
                "'--print-env' requires one derivation store path".into(),
            ));
        };
        let sp = follow_links_to_store_path(&store.store_dir, path)?;
        let drv = read_derivation(&store, &sp)?;
        with_stdout(|out| {
            for (k, v) in &drv.env {
                out.write_all(b"export ").map_err(out_err)?;
                out.write_all(k).map_err(out_err)?;
                out.write_all(b"; ").map_err(out_err)?;
                out.write_all(k).map_err(out_err)?;
                out.write_all(b"=").map_err(out_err)?;
                out.write_all(&shell_escape(v)).map_err(out_err)?;
                out.write_all(b"\n").map_err(out_err)?;
            }
            let args: Vec<Vec<u8>> = drv.args.iter().map(|a| shell_escape(a)).collect();
            // C++ Nix quotes the joined (already quoted) arguments once more
            // without escaping them.
            out.write_all(b"export _args; _args='").map_err(out_err)?;
            out.write_all(&args.join(&b' ')).map_err(out_err)?;
            out.write_all(b"'\n").map_err(out_err)
        })
    }

    /// `--query`: C++ Nix's query types, one per call (the default is
    /// `--outputs`), with `--use-output`, `--force-realise` and
    /// `--include-outputs`.
    fn query(&self, mut operands: Vec<PathBuf>) -> Result<(), CliError> {
        let mut kind: Option<&'static str> = None;
        let mut use_output = false;
        let mut force_realise = false;
        let mut include_outputs = false;
        let mut binding = String::new();
        for f in self.flags {
            let prev = kind;
            let this = match f.as_str() {
                "--outputs" => Some("outputs"),
                "--requisites" | "-R" => Some("requisites"),
                "--references" => Some("references"),
                "--referrers" | "--referers" => Some("referrers"),
                "--referrers-closure" | "--referers-closure" => Some("referrers-closure"),
                "--deriver" | "-d" => Some("deriver"),
                "--binding" | "-b" => {
                    if operands.is_empty() {
                        return Err(CliError::Usage("expected binding name".into()));
                    }
                    binding = operands.remove(0).to_string_lossy().into_owned();
                    Some("binding")
                }
                "--hash" => Some("hash"),
                "--size" => Some("size"),
                "--tree" => Some("tree"),
                "--graph" => Some("graph"),
                "--graphml" => Some("graphml"),
                "--resolve" => Some("resolve"),
                "--roots" => Some("roots"),
                "--use-output" | "-u" => {
                    use_output = true;
                    None
                }
                "--force-realise" | "--force-realize" | "-f" => {
                    force_realise = true;
                    None
                }
                "--include-outputs" => {
                    include_outputs = true;
                    None
                }
                _ => return Err(CliError::Usage(format!("unknown flag '{f}'"))),
            };
            if let Some(t) = this {
                kind = Some(t);
            }
            if prev.is_some() && prev != kind {
                return Err(CliError::Usage(format!(
                    "query type '{f}' conflicts with earlier flag"
                )));
            }
        }
        let kind = kind.unwrap_or("outputs");
        let store = self.open_any()?;
        let resolve = |p: &PathBuf| follow_links_to_store_path(&store.store_dir, p);
        // C++ Nix's `maybeUseOutputs`.
        let maybe_outputs = |sp: StorePath, use_output: bool| -> Result<Vec<StorePath>, CliError> {
            if force_realise {
                realise_valid(&store, &sp)?;
                if self.gc_warning {
                    gc_warning_once();
                }
            }
            if use_output && sp.name().ends_with(".drv") {
                if !store.is_valid(&sp).map_err(store_error)? {
                    return Err(CliError::Failed(format!(
                        "path '{}' does not exist and cannot be created",
                        store.print(&sp)
                    )));
                }
                let drv = read_derivation(&store, &sp)?;
                let mut outs = BTreeSet::new();
                for o in drv.outputs.values() {
                    match &o.path {
                        Some(p) => {
                            outs.insert(p.clone());
                        }
                        None => return Err(CliError::Usage(
                            "Cannot use output path of floating content-addressed derivation until we know what it is (e.g. by building it)".into(),
                        )),
                    }
                }
                return Ok(outs.into_iter().collect());
            }
            Ok(vec![sp])
        };
        match kind {
            "outputs" => with_stdout(|out| {
                for p in &operands {
                    for o in maybe_outputs(resolve(p)?, true)? {
                        writeln!(out, "{}", store.print(&o)).map_err(out_err)?;
                    }
                }
                Ok(())
            }),
            "hash" | "size" => with_stdout(|out| {
                for p in &operands {
                    for sp in maybe_outputs(resolve(p)?, use_output)? {
                        let info = store.query(&sp).map_err(store_error)?;
                        if kind == "hash" {
                            writeln!(out, "{}", info.nar_hash.to_string_with(HashFormat::Nix32))
                        } else {
                            writeln!(out, "{}", info.nar_size)
                        }
                        .map_err(out_err)?;
                    }
                }
                Ok(())
            }),
            "deriver" => with_stdout(|out| {
                for p in &operands {
                    let info = store.query(&resolve(p)?).map_err(store_error)?;
                    match &info.deriver {
                        Some(d) => writeln!(out, "{}", store.print(d)),
                        None => writeln!(out, "unknown-deriver"),
                    }
                    .map_err(out_err)?;
                }
                Ok(())
            }),
            "binding" => with_stdout(|out| {
                for p in &operands {
                    let sp = use_deriver(&store, resolve(p)?)?;
                    let drv = read_derivation(&store, &sp)?;
                    match drv.env.get(binding.as_bytes()) {
                        Some(v) => {
                            out.write_all(v).map_err(out_err)?;
                            out.write_all(b"\n").map_err(out_err)?;
                        }
                        None => {
                            return Err(CliError::Failed(format!(
                                "derivation '{}' has no environment binding named '{binding}'",
                                store.print(&sp)
                            )))
                        }
                    }
                }
                Ok(())
            }),
            "resolve" => with_stdout(|out| {
                for p in &operands {
                    writeln!(out, "{}", store.print(&resolve(p)?)).map_err(out_err)?;
                }
                Ok(())
            }),
            "references" | "referrers" | "referrers-closure" | "requisites" => {
                let mut set = BTreeSet::new();
                for p in &operands {
                    for sp in maybe_outputs(resolve(p)?, use_output)? {
                        match kind {
                            "references" => {
                                set.extend(store.query(&sp).map_err(store_error)?.references)
                            }
                            "referrers" => {
                                store.query(&sp).map_err(store_error)?;
                                set.extend(store.referrers(&sp).map_err(store_error)?)
                            }
                            "referrers-closure" => {
                                store.query(&sp).map_err(store_error)?;
                                let one = BTreeSet::from([sp]);
                                set.extend(store.closure(&one, true).map_err(store_error)?)
                            }
                            _ => {
                                store.query(&sp).map_err(store_error)?;
                                set.extend(requisites(&store, sp, include_outputs)?)
                            }
                        }
                    }
                }
                let sorted = store.sort_references_first(&set).map_err(store_error)?;
                with_stdout(|out| {
                    for p in sorted {
                        writeln!(out, "{}", store.print(&p)).map_err(out_err)?;
                    }
                    Ok(())
                })
            }
            "tree" => with_stdout(|out| {
                let mut done = BTreeSet::new();
                for p in &operands {
                    print_tree(&store, out, resolve(p)?, &mut done)?;
                }
                Ok(())
            }),
            "graph" | "graphml" => {
                let mut roots = BTreeSet::new();
                for p in &operands {
                    roots.extend(maybe_outputs(resolve(p)?, use_output)?);
                }
                if kind == "graph" {
                    with_stdout(|out| print_graph(&store, out, roots))
                } else {
                    with_stdout(|out| print_graphml(&store, out, roots))
                }
            }
            _ => {
                let mut closure = BTreeSet::new();
                for p in &operands {
                    for sp in maybe_outputs(resolve(p)?, use_output)? {
                        store.query(&sp).map_err(store_error)?;
                        let one = BTreeSet::from([sp]);
                        closure.extend(store.closure(&one, true).map_err(store_error)?);
                    }
                }
                let roots = self.find_roots_any(&store)?;
                with_stdout(|out| {
                    for (target, links) in &roots {
                        if closure.contains(target) {
                            for link in links {
                                writeln!(out, "{} -> {}", link.display(), store.print(target))
                                    .map_err(out_err)?;
                            }
                        }
                    }
                    Ok(())
                })
            }
        }
    }

    /// `--check-validity [--print-invalid] PATHS`.
    fn check_validity(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let print_invalid = self.only_flag("--print-invalid")?;
        let store = self.open_any()?;
        with_stdout(|out| {
            for p in operands {
                let sp = follow_links_to_store_path(&store.store_dir, p)?;
                if store.is_valid(&sp).map_err(store_error)? {
                    continue;
                }
                if !print_invalid {
                    return Err(CliError::Failed(format!(
                        "path '{}' is not valid",
                        store.print(&sp)
                    )));
                }
                writeln!(out, "{}", store.print(&sp)).map_err(out_err)?;
            }
            Ok(())
        })
    }

    /// `--print-fixed-path [--recursive] ALGO HASH NAME`: the store path
    /// of content with that hash (nothing is read or written).
    fn print_fixed_path(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let mut method = IngestionMethod::Flat;
        for f in self.flags {
            match f.as_str() {
                "--recursive" => method = IngestionMethod::Recursive,
                _ => return Err(CliError::Usage(format!("unknown flag '{f}'"))),
            }
        }
        let [algo, hash, name] = operands else {
            return Err(CliError::Usage(
                "'--print-fixed-path' requires three arguments".into(),
            ));
        };
        let algo = HashAlgo::from_name(&algo.to_string_lossy())
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let hash = crate::hash::Hash::parse_any(&hash.to_string_lossy(), Some(algo))
            .map_err(CliError::failed)?;
        let dir = store_dir()?;
        let sp = dir
            .fixed_output_path(
                &name.to_string_lossy(),
                method,
                &hash,
                &BTreeSet::new(),
                false,
            )
            .map_err(CliError::failed)?;
        println!("{}", dir.print(&sp));
        Ok(())
    }

    /// `--realise`: without building. Valid paths, and derivations whose
    /// outputs are valid, are printed (their outputs), with `--add-root`
    /// roots; a path nobody could make is C++ Nix's "don't know how to
    /// build"; a derivation to build is "not supported yet".
    fn realise(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let mut dry_run = false;
        let mut ignore_unknown = false;
        for f in self.flags {
            match f.as_str() {
                "--dry-run" => dry_run = true,
                "--ignore-unknown" => ignore_unknown = true,
                "--repair" | "--check" => {
                    return Err(CliError::Failed(format!(
                        "not supported yet: nix-store --realise {f}"
                    )))
                }
                _ => return Err(CliError::Usage(format!("unknown flag '{f}'"))),
            }
        }
        let store = self.open_any()?;
        let mut paths = Vec::new();
        let mut unknown = Vec::new();
        for p in operands {
            let text = p.to_string_lossy();
            let (path, outputs) = match text.split_once('!') {
                Some((p, o)) => (PathBuf::from(p), Some(o.to_owned())),
                None => (p.clone(), None),
            };
            let sp = follow_links_to_store_path(&store.store_dir, &path)?;
            let valid = store.is_valid(&sp).map_err(store_error)?;
            if !valid {
                unknown.push(sp);
                continue;
            }
            paths.push((sp, outputs));
        }
        if !unknown.is_empty() && !ignore_unknown {
            let mut msg = String::from("don't know how to build these paths:");
            for u in &unknown {
                msg.push_str(&format!("\n  {}", store.print(u)));
            }
            if dry_run {
                log::message(log::Level::Error, &msg);
                return Ok(());
            }
            log::message(log::Level::Error, &msg);
            let names: Vec<String> = unknown
                .iter()
                .map(|u| format!("'{}'", store.print(u)))
                .collect();
            return Err(CliError::Failed(if names.len() == 1 {
                format!("build of {} failed", names[0])
            } else {
                format!("build of {} failed", names.join(", "))
            }));
        }
        // What each argument stands for, checked before anything is printed.
        let mut results = Vec::new();
        for (sp, outputs) in paths {
            if !sp.name().ends_with(".drv") {
                results.push((sp, None));
                continue;
            }
            let drv = read_derivation(&store, &sp)?;
            let wanted: Vec<String> = match &outputs {
                Some(o) => o.split(',').map(str::to_owned).collect(),
                None => drv.outputs.keys().cloned().collect(),
            };
            let mut outs = Vec::new();
            for name in wanted {
                let Some(o) = drv.outputs.get(&name) else {
                    return Err(CliError::Failed(format!(
                        "derivation '{}' does not have an output named '{name}'",
                        store.print(&sp)
                    )));
                };
                match &o.path {
                    Some(p) if store.is_valid(p).map_err(store_error)? => {
                        outs.push((name, p.clone()))
                    }
                    _ => {
                        let plan = derivations_to_build(&store, &sp)?;
                        let msg = if plan.len() == 1 {
                            "this derivation will be built:".to_owned()
                        } else {
                            format!("these {} derivations will be built:", plan.len())
                        };
                        log::message(log::Level::Info, &msg);
                        for d in &plan {
                            log::message(log::Level::Info, &format!("  {}", store.print(d)));
                        }
                        if dry_run {
                            return Ok(());
                        }
                        // Only C++ Nix's daemon builds; the others say so.
                        let wanted = match &outputs {
                            Some(o) => o.clone(),
                            None => drv.outputs.keys().cloned().collect::<Vec<_>>().join(","),
                        };
                        store
                            .build_paths(&[format!("{}!{wanted}", store.print(&sp))])
                            .map_err(store_error)?;
                        match &o.path {
                            Some(p) if store.is_valid(p).map_err(store_error)? => {
                                outs.push((name, p.clone()))
                            }
                            _ => {
                                return Err(CliError::Failed(format!(
                                    "build of '{}' did not produce output '{name}'",
                                    store.print(&sp)
                                )))
                            }
                        }
                    }
                }
            }
            results.push((sp, Some(outs)));
        }
        if dry_run {
            return Ok(());
        }
        let root = |target: &StorePath,
                    output: Option<&str>,
                    root_nr: usize|
         -> Result<String, CliError> {
            let printed = store.print(target);
            let Some(base) = &self.add_root else {
                if self.gc_warning {
                    gc_warning_once();
                }
                return Ok(printed);
            };
            let mut name = base.display().to_string();
            if root_nr > 1 {
                name.push_str(&format!("-{root_nr}"));
            }
            if let Some(o) = output.filter(|o| *o != "out") {
                name.push_str(&format!("-{o}"));
            }
            super::nix_instantiate::make_symlink(Path::new(&name), Path::new(&printed))?;
            let address = super::store_env::any_address(self.store.as_deref())?;
            store
                .add_indirect_root(&absolute(Path::new(&name)), &address)
                .map_err(store_error)?;
            Ok(name)
        };
        let mut lines = Vec::new();
        for (i, (sp, outs)) in results.into_iter().enumerate() {
            match outs {
                None => lines.push(root(&sp, None, i + 1)?),
                Some(outs) => {
                    let mut set = BTreeSet::new();
                    for (name, p) in outs {
                        set.insert(root(&p, Some(&name), i + 1)?);
                    }
                    lines.extend(set);
                }
            }
        }
        if self.no_output {
            return Ok(());
        }
        with_stdout(|out| {
            for l in lines {
                writeln!(out, "{l}").map_err(out_err)?;
            }
            Ok(())
        })
    }

    /// `--optimise`: the castore keeps each file content once already, so
    /// there is nothing to link; reported as C++ Nix reports it.
    fn optimise(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        if !operands.is_empty() || !self.flags.is_empty() {
            return Err(CliError::Usage("no arguments expected".into()));
        }
        if let Some(local) = self.open_local()? {
            let stats = local
                .optimise_store(&self.messages())
                .map_err(store_error)?;
            self.info(&format!(
                "{:.2} MiB freed by hard-linking {} files",
                stats.bytes_freed as f64 / (1024.0 * 1024.0),
                stats.files_linked
            ));
            return Ok(());
        }
        if let Some((store, _)) = self.open_daemon()? {
            // The daemon optimises its store and says what it freed.
            return daemon(&store)?.optimise_store().map_err(store_error);
        }
        self.open()?;
        if self.verbosity >= 0 {
            log::message(log::Level::Info, "0.00 MiB freed by hard-linking 0 files");
        }
        Ok(())
    }

    /// `--verify [--check-contents] [--repair]`: every path's tree must be
    /// there (and, with `--check-contents`, have its recorded NAR hash).
    fn verify(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let mut check_contents = false;
        for f in self.flags {
            match f.as_str() {
                "--check-contents" => check_contents = true,
                "--repair" => {}
                other => return Err(CliError::Usage(format!("unknown flag '{other}'"))),
            }
        }
        if !operands.is_empty() {
            return Err(CliError::Usage("no arguments expected".into()));
        }
        if let Some(local) = self.open_local()? {
            let repair = self.flags.iter().any(|f| f == "--repair");
            let errors = local
                .verify_store(check_contents, repair, &self.messages())
                .map_err(store_error)?;
            if errors {
                log::warning("not all store errors were fixed");
                return Err(CliError::Exit(1));
            }
            return Ok(());
        }
        if let Some((store, _)) = self.open_daemon()? {
            // The daemon checks its store, its findings relayed; only a
            // trusted user may have it repair.
            let repair = self.flags.iter().any(|f| f == "--repair");
            let errors = daemon(&store)?
                .verify_store(check_contents, repair)
                .map_err(store_error)?;
            if errors {
                log::warning("not all store errors were fixed");
                return Err(CliError::Exit(1));
            }
            return Ok(());
        }
        let store = self.open()?;
        log::message(log::Level::Info, "reading the Nix store...");
        let infos = store.path_infos.list().map_err(store_error)?;
        log::message(log::Level::Info, "checking path existence...");
        let mut ok = true;
        for info in &infos {
            for r in &info.references {
                if !store.is_valid(r).map_err(store_error)? {
                    super::print_error(&format!(
                        "path '{}' refers to '{}', which is not valid",
                        store.print(&info.store_path),
                        store.print(r)
                    ));
                    ok = false;
                }
            }
        }
        let damaged = |sp: &StorePath, e: StoreError| {
            super::print_error(&format!("path '{}' is damaged: {e}", store.print(sp)));
        };
        if check_contents {
            log::message(log::Level::Info, "checking link hashes...");
            log::message(log::Level::Info, "checking store hashes...");
        }
        for info in &infos {
            let sp = &info.store_path;
            if check_contents {
                match store.verify(sp) {
                    Ok((info, found)) if found != info.nar_hash() => {
                        super::print_error(&format!(
                            "path '{}' was modified! expected hash '{}', got '{}'",
                            store.print(sp),
                            info.nar_hash().to_string_with(HashFormat::Nix32),
                            found.to_string_with(HashFormat::Nix32)
                        ));
                        ok = false;
                    }
                    Ok(_) => {}
                    Err(StoreError::Damaged { path, damage }) => {
                        super::print_error(&modified_damaged(&store.store_dir, sp, &path, damage));
                        ok = false;
                    }
                    Err(e) => {
                        damaged(sp, e);
                        ok = false;
                    }
                }
            } else if let Err(e) = store.check_tree(&info.node) {
                damaged(sp, e);
                ok = false;
            }
        }
        if ok {
            Ok(())
        } else {
            log::warning("not all store errors were fixed");
            Err(CliError::Exit(1))
        }
    }

    fn verify_path(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let store = self.open_any()?;
        let mut ok = true;
        for sp in self.store_paths(&store.store_dir, operands)? {
            let (info, found) = match store.verify(&sp) {
                Err(StoreError::Damaged { path, damage }) => {
                    super::print_error(&modified_damaged(&store.store_dir, &sp, &path, damage));
                    ok = false;
                    continue;
                }
                r => r.map_err(store_error)?,
            };
            if found != info.nar_hash {
                super::print_error(&format!(
                    "path '{}' was modified! expected hash '{}', got '{}'",
                    store.print(&sp),
                    info.nar_hash.to_string_with(HashFormat::Nix32),
                    found.to_string_with(HashFormat::Nix32)
                ));
                ok = false;
            }
        }
        if ok {
            Ok(())
        } else {
            Err(CliError::Exit(1))
        }
    }

    /// `--delete [--ignore-liveness] PATHS`: deletes the paths (each with
    /// the paths of PATHS keeping it alive), stopping at one still alive.
    fn delete(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let mut ignore_liveness = false;
        for f in self.flags {
            match f.as_str() {
                "--ignore-liveness" => ignore_liveness = true,
                other => return Err(CliError::Usage(format!("unknown flag '{other}'"))),
            }
        }
        let paths: BTreeSet<StorePath> = self
            .store_paths(&store_dir()?, operands)?
            .into_iter()
            .collect();
        if let Some(result) =
            self.gc_through_daemon(None, u64::MAX, Some(paths.clone()), ignore_liveness)
        {
            return result;
        }
        if let Some(local) = self.open_local()? {
            return self.gc_local(&local, Some("--delete"), u64::MAX, paths, ignore_liveness);
        }
        let store = self.open()?;
        self.collect(&store, &gc::Target::Paths(paths), u64::MAX, ignore_liveness)
    }

    /// `--dump-db [PATHS]`: the registrations of the PATHs (of every
    /// valid path without any), in C++ Nix's format.
    fn dump_db(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        if let Some(local) = self.open_local()? {
            return with_stdout(|out| {
                let paths = if operands.is_empty() {
                    local.valid_paths()?.into_iter().collect()
                } else {
                    self.store_paths(&local.store_dir, operands)?
                };
                for sp in paths {
                    let info = local.query(&sp)?;
                    validity::write_local(out, &local.store_dir, &info).map_err(out_err)?;
                }
                Ok(())
            });
        }
        if let Some((store, _)) = self.open_daemon()? {
            // Each path's registration as it is queried (C++ Nix writes
            // them one by one: those before an invalid argument are out).
            let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
            let mut write = |sp: &StorePath| -> Result<(), CliError> {
                let info = store.query(sp)?;
                validity::write_local(&mut out, &store.store_dir, &info).map_err(out_err)
            };
            let written = (|| {
                if operands.is_empty() {
                    for sp in store.valid_paths()? {
                        write(&sp)?;
                    }
                }
                for arg in operands {
                    write(&follow_links_to_store_path(&store.store_dir, arg)?)?;
                }
                Ok(())
            })();
            let flushed = out.flush().map_err(out_err);
            return written.and(flushed);
        }
        let store = self.open()?;
        with_stdout(|out| {
            if operands.is_empty() {
                for info in store.path_infos.list()? {
                    validity::write(out, &store.store_dir, &info).map_err(out_err)?;
                }
                return Ok(());
            }
            for sp in self.store_paths(&store.store_dir, operands)? {
                let info = store.query(&sp)?;
                validity::write(out, &store.store_dir, &info).map_err(out_err)?;
            }
            Ok(())
        })
    }

    /// `--load-db` (registrations with hashes, valid paths registered
    /// again) and `--register-validity [--reregister] [--hash-given]`:
    /// registrations read from standard input.
    fn register_validity(&self, operands: &[PathBuf], load_db: bool) -> Result<(), CliError> {
        let (mut reregister, mut hash_given) = (load_db, load_db);
        for f in self.flags {
            match f.as_str() {
                "--reregister" if !load_db => reregister = true,
                "--hash-given" if !load_db => hash_given = true,
                _ if load_db => return Err(CliError::Usage("unknown flag".into())),
                other => return Err(CliError::Usage(format!("unknown flag '{other}'"))),
            }
        }
        no_args(operands)?;
        if let Some((store, _)) = self.open_daemon()? {
            // Nix 2.8 reads the registrations, hashing and (for
            // --register-validity) making canonical the files of paths to
            // register, before it finds that only its local store
            // registers paths.
            let mut reader = validity::Reader::new(io::stdin().lock(), store_dir()?, hash_given);
            validity::check_through_daemon(&store, &mut reader, reregister, !load_db)
                .map_err(CliError::failed)?;
            return Err(CliError::Failed(
                "you don't have sufficient rights to use this command".into(),
            ));
        }
        // The whole input first, then the store: the input may come from
        // another process using the store (`--dump-db | --load-db`), which
        // holds it until its output is read.
        let mut reader = validity::Reader::new(io::stdin().lock(), store_dir()?, hash_given);
        let mut regs = Vec::new();
        while let Some(r) = reader.next_registration().map_err(CliError::failed)? {
            regs.push(r);
        }
        if let Some(local) = self.open_local()? {
            validity::register_local(&local, regs, reregister, !load_db)
                .map_err(CliError::failed)?;
            return Ok(());
        }
        let store = self.open()?;
        validity::register(&store, regs, reregister).map_err(CliError::failed)?;
        Ok(())
    }

    /// `--repair-path PATHS`: oxnix has no substituters to fetch a path
    /// again from, so, as C++ Nix without substituters, it cannot repair a
    /// path, damaged or not; it checks the path (with `-v` it says what it
    /// found) and fails with C++ Nix's error.
    fn repair_path(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        if !self.flags.is_empty() {
            return Err(CliError::Usage("no flags expected".into()));
        }
        if let Some(local) = self.open_local()? {
            for arg in operands {
                let sp = follow_links_to_store_path(&local.store_dir, arg)?;
                local.repair_path(&sp).map_err(store_error)?;
            }
            return Ok(());
        }
        if let Some((store, address)) = self.open_daemon()? {
            // Nix 2.8's client cannot have the daemon repair a path.
            if let Some(arg) = operands.first() {
                follow_links_to_store_path(&store.store_dir, arg)?;
                return Err(CliError::Failed(format!(
                    "operation 'repairPath' is not supported by store '{address}'"
                )));
            }
            return Ok(());
        }
        let store = self.open()?;
        // The first path ends the command either way.
        if let Some(arg) = operands.first() {
            let sp = follow_links_to_store_path(&store.store_dir, arg)?;
            let printed = store.print(&sp);
            let found = match store.verify(&sp) {
                Err(StoreError::NotValid(p)) => {
                    return Err(CliError::Failed(format!("path '{p}' is not valid")))
                }
                Ok((info, found)) if found == info.nar_hash() => format!(
                    "path '{printed}' is intact; there is no substituter to fetch it again from"
                ),
                Ok((info, found)) => format!(
                    "path '{printed}' was modified! expected hash '{}', got '{}'",
                    info.nar_hash().to_string_with(HashFormat::Nix32),
                    found.to_string_with(HashFormat::Nix32)
                ),
                Err(e) => format!("path '{printed}' is damaged: {e}"),
            };
            if self.verbosity >= 1 {
                log::message(log::Level::Info, &found);
            }
            return Err(CliError::Failed(format!("cannot repair path '{printed}'")));
        }
        Ok(())
    }

    /// `--serve [--write]`: one session of the serve protocol on standard
    /// input and output (`serve`).
    fn serve(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let write_allowed = self.only_flag("--write")?;
        if !operands.is_empty() {
            return Err(CliError::Usage("no arguments expected".into()));
        }
        let dir = store_dir()?;
        let store = self.open_any()?;
        let closure = |paths, include_outputs| requisites_of(&store, paths, include_outputs);
        let session = serve::Session {
            store: &store,
            dir: &dir,
            write_allowed,
            closure: &closure,
        };
        let mut input = io::BufReader::with_capacity(64 * 1024, io::stdin().lock());
        with_stdout(|out| session.run(&mut input, out))
    }

    /// `--read-log PATHS` (`build_logs`).
    fn read_log(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let address = super::store_env::any_address(self.store.as_deref())?;
        let dir = store_dir()?;
        let store = AnyStore::open(&address, dir.clone()).map_err(store_error)?;
        let log_dir = build_logs::log_dir_of(&address, &super::store_env::nix_paths()?.log_dir);
        let resolve = |p: &PathBuf| follow_links_to_store_path(&dir, p);
        with_stdout(|out| {
            build_logs::read_logs(&store, log_dir.as_deref(), operands, &resolve, out)
        })
    }

    fn export(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        let store = self.open_any()?;
        let paths: BTreeSet<StorePath> = self
            .store_paths(&store.store_dir, operands)?
            .into_iter()
            .collect();
        for p in &paths {
            store.query(p).map_err(store_error)?;
        }
        with_stdout(|out| store.export_paths(&paths, out).map_err(store_error))
    }

    fn import(&self, operands: &[PathBuf]) -> Result<(), CliError> {
        no_args(operands)?;
        let mut store = self.open_any()?;
        let progress = super::progress::Progress::on_terminal("importing");
        if let Some(castore) = store.castore_mut() {
            castore.progress = progress
                .clone()
                .map(|p| p as Arc<dyn crate::store::IngestProgress>);
        }
        let paths = store.import_paths(&mut io::stdin().lock());
        if let Some(p) = &progress {
            p.finish();
        }
        let paths = paths.map_err(store_error)?;
        with_stdout(|out| {
            for p in paths {
                writeln!(out, "{}", store.print(&p)).map_err(out_err)?;
            }
            Ok(())
        })
    }
}

/// C++ Nix's `useDeriver`: a derivation is itself, another path its
/// recorded deriver.
fn use_deriver(store: &AnyStore, sp: StorePath) -> Result<StorePath, CliError> {
    if sp.name().ends_with(".drv") {
        return Ok(sp);
    }
    let info = store.query(&sp).map_err(store_error)?;
    info.deriver.ok_or_else(|| {
        CliError::Failed(format!(
            "deriver of path '{}' is not known",
            store.print(&sp)
        ))
    })
}

/// Realising without building: a valid path is there already; a
/// derivation whose outputs are all valid is realised. Anything else
/// would need a build, which oxnix does not do.
fn realise_valid(store: &AnyStore, sp: &StorePath) -> Result<(), CliError> {
    if sp.name().ends_with(".drv") {
        let drv = read_derivation(store, sp)?;
        for o in drv.outputs.values() {
            match &o.path {
                Some(p) if store.is_valid(p).map_err(store_error)? => {}
                _ => {
                    let all: Vec<String> = drv.outputs.keys().cloned().collect();
                    return store
                        .build_paths(&[format!("{}!{}", store.print(sp), all.join(","))])
                        .map_err(store_error);
                }
            }
        }
        return Ok(());
    }
    if store.is_valid(sp).map_err(store_error)? {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "path '{}' does not exist and cannot be created",
            store.print(sp)
        )))
    }
}

/// The derivations a build of `drv` would run: it and every input
/// derivation with an output that is not valid, dependencies first.
fn derivations_to_build(store: &AnyStore, drv: &StorePath) -> Result<Vec<StorePath>, CliError> {
    let mut todo = vec![drv.clone()];
    let mut seen = BTreeSet::new();
    let mut build = BTreeSet::new();
    while let Some(d) = todo.pop() {
        if !seen.insert(d.clone()) {
            continue;
        }
        let parsed = read_derivation(store, &d)?;
        let mut missing = false;
        for o in parsed.outputs.values() {
            match &o.path {
                Some(p) if store.is_valid(p).map_err(store_error)? => {}
                _ => missing = true,
            }
        }
        if missing {
            build.insert(d.clone());
            todo.extend(parsed.input_drvs.keys().cloned());
        }
    }
    store.sort_references_first(&build).map_err(store_error)
}

/// The closure of `sp`; with `include_outputs`, the valid outputs of every
/// derivation in it are added with their closures (C++ Nix's
/// `computeFSClosure` with `includeOutputs`).
fn requisites(
    store: &AnyStore,
    sp: StorePath,
    include_outputs: bool,
) -> Result<BTreeSet<StorePath>, CliError> {
    requisites_of(store, BTreeSet::from([sp]), include_outputs)
}

/// The closure of `paths` (C++ Nix's `computeFSClosure`), with the valid
/// outputs of the derivations in it (and their closures) when
/// `include_outputs`.
fn requisites_of(
    store: &AnyStore,
    paths: BTreeSet<StorePath>,
    include_outputs: bool,
) -> Result<BTreeSet<StorePath>, CliError> {
    let mut set = store.closure(&paths, false).map_err(store_error)?;
    if !include_outputs {
        return Ok(set);
    }
    let mut seen_drvs = BTreeSet::new();
    loop {
        let drvs: Vec<StorePath> = set
            .iter()
            .filter(|p| p.name().ends_with(".drv") && !seen_drvs.contains(*p))
            .cloned()
            .collect();
        if drvs.is_empty() {
            return Ok(set);
        }
        let mut more = BTreeSet::new();
        for d in drvs {
            let drv = read_derivation(store, &d)?;
            seen_drvs.insert(d);
            for o in drv.outputs.values() {
                if let Some(p) = &o.path {
                    if store.is_valid(p).map_err(store_error)? {
                        more.insert(p.clone());
                    }
                }
            }
        }
        set.extend(store.closure(&more, false).map_err(store_error)?);
    }
}

fn restore_op(operands: &[PathBuf], case_hack: bool) -> Result<(), CliError> {
    let path = single(operands)?;
    restore_with(io::stdin().lock(), path, case_hack).map_err(CliError::failed)
}

const TREE_CONN: &str = "├───";
const TREE_LAST: &str = "└───";
const TREE_LINE: &str = "│   ";
const TREE_NULL: &str = "    ";

/// C++ Nix's `printTree`: each path once; a path seen before is printed
/// with ` [...]`; references sorted so that a reference of a sibling comes
/// first. Iterative, so deep graphs cannot overflow the stack.
fn print_tree(
    store: &AnyStore,
    out: &mut dyn Write,
    root: StorePath,
    done: &mut BTreeSet<StorePath>,
) -> Result<(), CliError> {
    // (path, first pad, tail pad)
    let mut todo: Vec<(StorePath, String, String)> = vec![(root, String::new(), String::new())];
    while let Some((path, first, tail)) = todo.pop() {
        if !done.insert(path.clone()) {
            writeln!(out, "{first}{} [...]", store.print(&path)).map_err(out_err)?;
            continue;
        }
        writeln!(out, "{first}{}", store.print(&path)).map_err(out_err)?;
        let info = store.query(&path).map_err(store_error)?;
        let sorted = store
            .sort_references_first(&info.references)
            .map_err(store_error)?;
        let n = sorted.len();
        // Pushed in reverse so they are printed in order.
        for (i, r) in sorted.into_iter().enumerate().rev() {
            let last = i + 1 == n;
            todo.push((
                r,
                format!("{tail}{}", if last { TREE_LAST } else { TREE_CONN }),
                format!("{tail}{}", if last { TREE_NULL } else { TREE_LINE }),
            ));
        }
    }
    Ok(())
}

/// C++ Nix's `printDotGraph`: the closure of `roots` as Graphviz, nodes in
/// the order a sorted work list yields them, edge colours cycling.
fn print_graph(
    store: &AnyStore,
    out: &mut dyn Write,
    roots: BTreeSet<StorePath>,
) -> Result<(), CliError> {
    const COLOURS: [&str; 6] = ["black", "red", "green", "blue", "magenta", "burlywood"];
    let mut colour = 0usize;
    let mut work = roots;
    let mut done = BTreeSet::new();
    writeln!(out, "digraph G {{").map_err(out_err)?;
    while let Some(path) = work.pop_first() {
        if !done.insert(path.clone()) {
            continue;
        }
        writeln!(
            out,
            "\"{}\" [label = \"{}\", shape = box, style = filled, fillcolor = \"#ff0000\"];",
            path.base_name(),
            path.name()
        )
        .map_err(out_err)?;
        for r in store.query(&path).map_err(store_error)?.references {
            if r != path {
                writeln!(
                    out,
                    "\"{}\" -> \"{}\" [color = \"{}\"];",
                    r.base_name(),
                    path.base_name(),
                    COLOURS[colour % COLOURS.len()]
                )
                .map_err(out_err)?;
                colour += 1;
                work.insert(r);
            }
        }
    }
    writeln!(out, "}}").map_err(out_err)
}

/// What C++ Nix 2.8 shows as a GraphML node's `name`: the path's name up
/// to and including its last `-` (empty without one).
fn graphml_name(name: &str) -> &str {
    name.rfind('-').map_or("", |i| &name[..=i])
}

/// C++ Nix 2.8's `printGraphML`: the closure of `roots`, each node followed
/// by the edges to its references.
fn print_graphml(
    store: &AnyStore,
    out: &mut dyn Write,
    roots: BTreeSet<StorePath>,
) -> Result<(), CliError> {
    out.write_all(
        b"<?xml version='1.0' encoding='utf-8'?>\n\
<graphml xmlns='http://graphml.graphdrawing.org/xmlns'\n    \
xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'\n    \
xsi:schemaLocation='http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd'>\n\
<key id='narSize' for='node' attr.name='narSize' attr.type='int'/>\
<key id='name' for='node' attr.name='name' attr.type='string'/>\
<key id='type' for='node' attr.name='type' attr.type='string'/>\
<graph id='G' edgedefault='directed'>\n",
    )
    .map_err(out_err)?;
    let mut work = roots;
    let mut done = BTreeSet::new();
    while let Some(path) = work.pop_first() {
        if !done.insert(path.clone()) {
            continue;
        }
        let info = store.query(&path).map_err(store_error)?;
        let kind = if path.name().ends_with(".drv") {
            "derivation"
        } else {
            "output-path"
        };
        write!(
            out,
            "  <node id=\"{}\">\n    <data key=\"narSize\">{}</data>\n    <data key=\"name\">{}</data>\n    <data key=\"type\">{kind}</data>\n  </node>\n",
            path.base_name(),
            info.nar_size,
            graphml_name(path.name())
        )
        .map_err(out_err)?;
        for r in info.references {
            if r != path {
                writeln!(
                    out,
                    "  <edge source=\"{}\" target=\"{}\"/>",
                    path.base_name(),
                    r.base_name()
                )
                .map_err(out_err)?;
                work.insert(r);
            }
        }
    }
    out.write_all(b"</graph>\n</graphml>\n").map_err(out_err)
}

/// `'…'` with every `'` written as `'\''`, as C++ Nix's `shellEscape`.
fn shell_escape(s: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &c in s {
        if c == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(c);
        }
    }
    out.push(b'\'');
    out
}

/// The derivation stored at `path` (a `.drv` text path of the store).
fn read_derivation(
    store: &AnyStore,
    path: &StorePath,
) -> Result<crate::derivation::Derivation, CliError> {
    let mut nar = Vec::new();
    store.nar(path, &mut nar).map_err(store_error)?;
    derivation_of_nar(&nar, &store.store_dir, &store.print(path))
}

/// [`read_derivation`] for oxnix's own store.
fn read_derivation_castore(
    store: &Store,
    path: &StorePath,
) -> Result<crate::derivation::Derivation, CliError> {
    let nar = store.nar(path, Vec::new()).map_err(store_error)?;
    derivation_of_nar(&nar, &store.store_dir, &store.print(path))
}

/// The derivation in the NAR of a `.drv` file.
fn derivation_of_nar(
    nar: &[u8],
    dir: &StoreDir,
    printed: &str,
) -> Result<crate::derivation::Derivation, CliError> {
    struct FileContents(Vec<u8>);
    impl crate::nar::reader::NarVisitor for FileContents {
        fn enter_directory(&mut self, _: &[Vec<u8>]) -> io::Result<()> {
            Err(io::Error::other("a derivation is a regular file"))
        }
        fn leave_directory(&mut self, _: &[Vec<u8>]) -> io::Result<()> {
            Ok(())
        }
        fn symlink(&mut self, _: &[Vec<u8>], _: &[u8]) -> io::Result<()> {
            Err(io::Error::other("a derivation is a regular file"))
        }
        fn regular(
            &mut self,
            _: &[Vec<u8>],
            _: bool,
            _: u64,
            contents: &mut dyn io::Read,
        ) -> io::Result<()> {
            contents.read_to_end(&mut self.0).map(|_| ())
        }
    }
    let mut file = FileContents(Vec::new());
    crate::nar::reader::parse(nar, &mut file)
        .map_err(|e| CliError::Failed(format!("reading '{printed}': {e}")))?;
    crate::derivation::Derivation::from_aterm(&file.0, dir)
        .map_err(|e| CliError::Failed(format!("'{printed}': {e}")))
}
