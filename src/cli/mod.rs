//! Command-line front ends. Each command has a module with its clap
//! definition and a `run` function; this module dispatches on the name the
//! program was started as and reports errors the way C++ Nix does
//! (`error: …` on stderr, exit code 1).

pub mod commands;
pub mod eval_store;
pub mod gen_docs;
pub mod legacy_args;
pub mod man;
pub mod nix_hash;
pub mod nix_instantiate;
pub mod nix_store;
pub mod progress;
pub mod settings;
pub mod store;
pub mod store_env;

use std::ffi::OsString;
use std::fmt::Display;
use std::path::Path;

/// How a command failed.
#[derive(Debug)]
pub enum CliError {
    /// Wrong use of the command line: also prints the `--help` hint.
    Usage(String),
    /// Anything else.
    Failed(String),
    /// Exit with this code; the messages were printed already.
    Exit(i32),
}

impl CliError {
    pub fn failed(e: impl Display) -> CliError {
        CliError::Failed(e.to_string())
    }
}

/// Prints `msg` as C++ Nix prints errors: `error:` in bold red on a
/// terminal (or as `--log-format` chose).
pub fn print_error(msg: &str) {
    crate::log::error(msg);
}

/// Prints `msg` as C++ Nix prints warnings: `warning:` in bold yellow on a
/// terminal (or as `--log-format` chose).
pub fn print_warning(msg: &str) {
    crate::log::warning(msg);
}

/// `--help` and `--version` of `nix-hash` and `nix-instantiate`: print and
/// end the command (as C++ Nix does while reading the command line).
pub fn help_or_version(arg: &str, name: &str, cmd: fn() -> clap::Command) -> Result<(), CliError> {
    match arg {
        "--help" => print!("{}", cmd().render_help()),
        "--version" => print_version(name),
        _ => return Ok(()),
    }
    Err(CliError::Exit(0))
}

/// `--version` of a command: C++ Nix's line (scripts parse `(Nix) X.Y.Z`)
/// with oxnix's own version after it.
pub fn print_version(command: &str) {
    println!(
        "{command} (Nix) 2.8.0 (oxnix {})",
        env!("CARGO_PKG_VERSION")
    );
}

fn report(command: &str, result: Result<(), CliError>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(CliError::Usage(msg)) => {
            print_error(&msg);
            crate::log::message(
                crate::log::Level::Error,
                &format!("Try '{command} --help' for more information."),
            );
            1
        }
        Err(CliError::Failed(msg)) => {
            print_error(&msg);
            1
        }
        Err(CliError::Exit(code)) => code,
    }
}

/// Turns a clap parse failure into C++ Nix's wording, or prints help/version.
pub fn clap_failure(err: clap::Error) -> Result<(), CliError> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            return Ok(());
        }
        _ => {}
    }
    let arg = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.split_whitespace().next().unwrap_or("").to_owned(),
        _ => String::new(),
    };
    let msg = match err.kind() {
        ErrorKind::UnknownArgument => format!("unrecognised flag '{arg}'"),
        ErrorKind::InvalidValue | ErrorKind::NoEquals if !arg.is_empty() => {
            format!("'{arg}' requires an argument")
        }
        _ => {
            let rendered = err.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            first.trim_start_matches("error: ").to_owned()
        }
    };
    Err(CliError::Usage(msg))
}

/// Restores the default SIGPIPE action so that `oxnix … | head` ends quietly,
/// as other Unix tools do.
fn default_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_DFL has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A collection asked to grow past what an address can hold ("capacity
/// overflow", a panic), or a thread that could not be started, has run
/// out of memory: it ends as the allocator's
/// failures do (`error: out of memory`, exit 1, no backtrace). Other
/// panics keep Rust's report: they are bugs.
fn out_of_memory_on_capacity_overflow() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            // Also a thread that cannot start (its stack cannot be mapped).
            if msg.is_some_and(|m| {
                m.contains("capacity overflow") || m.starts_with("failed to spawn thread")
            }) {
                crate::allocator::out_of_memory();
            }
            report(info);
        }));
    });
}

/// Runs command `name` with `args` (without the program name); returns the
/// process exit code.
pub fn run_command(name: &str, args: Vec<OsString>) -> i32 {
    run_as(name, name, args)
}

/// Runs command `name` started as `argv` (the program as invoked, then
/// the arguments): a usage error names the program as it was invoked
/// (`Try '/usr/bin/nix-store --help' …`), as C++ Nix's commands do.
pub fn run_invoked(name: &str, mut argv: Vec<OsString>) -> i32 {
    let program = match argv.is_empty() {
        true => name.to_owned(),
        false => argv.remove(0).to_string_lossy().into_owned(),
    };
    run_as(name, &program, argv)
}

fn run_as(name: &str, program: &str, args: Vec<OsString>) -> i32 {
    crate::allocator::disable_transparent_huge_pages();
    default_sigpipe();
    out_of_memory_on_capacity_overflow();
    let result = match commands::find(name) {
        Some(c) => (c.run)(args),
        None => Err(CliError::Usage(format!("unknown command '{name}'"))),
    };
    report(program, result)
}

/// Entry point of the multicall binary: dispatches on the name it was started
/// as (a Nix command's), or on its first argument (`oxnix nix-hash …`).
pub fn main_multicall(mut argv: Vec<OsString>) -> i32 {
    crate::allocator::disable_transparent_huge_pages();
    let invoked = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("oxnix")
        .to_owned();
    if commands::nix_commands().any(|c| c.name == invoked) {
        return run_invoked(&invoked, argv);
    }
    let sub = argv.get(1).and_then(|a| a.to_str()).map(str::to_owned);
    match sub.as_deref() {
        Some(cmd) if commands::find(cmd).is_some() => run_command(cmd, argv.split_off(2)),
        Some("--version") | Some("-V") => {
            println!("oxnix {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("help") => match argv.get(2).and_then(|a| a.to_str()) {
            // `oxnix help CMD` is `CMD --help`.
            Some(cmd) if commands::find(cmd).is_some() => {
                run_command(cmd, vec![OsString::from("--help")])
            }
            Some(other) => report(
                "oxnix",
                Err(CliError::Usage(format!("unknown command '{other}'"))),
            ),
            None => {
                print!("{}", multicall_help());
                0
            }
        },
        Some("--help") | Some("-h") | None => {
            print!("{}", multicall_help());
            if sub.is_none() {
                1
            } else {
                0
            }
        }
        Some(other) => report(
            "oxnix",
            Err(CliError::Usage(format!("unknown command '{other}'"))),
        ),
    }
}

/// The clap definition of the multicall front end (for help and docs): the
/// registered commands as its subcommands.
pub fn multicall_command() -> clap::Command {
    let nix: Vec<&str> = commands::nix_commands().map(|c| c.name).collect();
    let about = match nix.split_last() {
        Some((last, [])) => format!("A Nix-compatible command suite; also runs as {last}"),
        Some((last, rest)) => format!(
            "A Nix-compatible command suite; also runs as {} and {last}",
            rest.join(", ")
        ),
        None => "A Nix-compatible command suite".to_owned(),
    };
    commands::COMMANDS.iter().fold(
        clap::Command::new("oxnix")
            .version(env!("CARGO_PKG_VERSION"))
            .about(about)
            .subcommand_required(true),
        |cmd, c| cmd.subcommand((c.command)()),
    )
}

fn multicall_help() -> String {
    multicall_command().render_help().to_string()
}
