//! `oxnix store`: commands that serve oxnix's store rather than query it.
//! `oxnix store daemon --listen ADDR` serves the store (chosen as for
//! `nix-store`: `--store`, `$OXNIX_STORE`, the default sled store) over
//! gRPC until SIGINT/SIGTERM; `oxnix store mount MOUNTPOINT` shows it as a
//! read-only FUSE file system until unmounted or interrupted.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgMatches, Command};

use super::{clap_failure, store_env, CliError};
use crate::store::daemon::{Daemon, Listen};
use crate::store::fuse::{Mount, MountOptions};
use crate::store::Store;
use crate::store::StoreAddress;

fn store_arg() -> Arg {
    Arg::new("store")
        .long("store")
        .value_name("ADDRESS")
        .help(store_env::STORE_HELP)
}

/// The clap definition of `oxnix store`.
pub fn command() -> Command {
    Command::new("store")
        .about("Serve oxnix's store: a gRPC daemon, or a FUSE mount")
        .subcommand_required(true)
        .subcommand(
            Command::new("daemon")
                .about("Serve the store over gRPC until SIGINT or SIGTERM")
                .arg(
                    Arg::new("listen")
                        .long("listen")
                        .value_name("ADDR")
                        .required(true)
                        .help("HOST:PORT, grpc+http://HOST:PORT or grpc+unix:///PATH (port 0: any free port, printed on stderr)"),
                )
                .arg(store_arg()),
        )
        .subcommand(
            Command::new("mount")
                .about("Mount the store read-only with FUSE: each valid store path as an entry of MOUNTPOINT; until unmounted, SIGINT or SIGTERM")
                .arg(
                    Arg::new("mountpoint")
                        .value_name("MOUNTPOINT")
                        .required(true)
                        .value_parser(clap::value_parser!(PathBuf))
                        .value_hint(clap::ValueHint::DirPath)
                        .help("An existing directory"),
                )
                .arg(
                    Arg::new("no-prefetch")
                        .long("no-prefetch")
                        .action(clap::ArgAction::SetTrue)
                        .help("Do not push a directory's files into the kernel's cache once one of them is read or the directory is listed in a walk of the tree (each file then costs read requests when first read)"),
                )
                .arg(store_arg()),
        )
}

fn open_store(m: &ArgMatches) -> Result<(Store, StoreAddress), CliError> {
    let address = store_env::store_address(m.get_one::<String>("store").map(String::as_str))?;
    let store = Store::open(&address, store_env::store_dir()?).map_err(CliError::failed)?;
    Ok((store, address))
}

/// While a process holds a local store (serving or mounting it), other
/// processes use the store through a daemon on the store's hand-off socket
/// (see `Store::open`); `None` for other stores or when `listen` is it.
fn handoff_daemon(
    store: &Store,
    address: &StoreAddress,
    listen: Option<&Listen>,
) -> Result<Option<Daemon>, CliError> {
    let Some(dir) = address.state_dir() else {
        return Ok(None);
    };
    let socket = crate::store::handoff_socket(dir);
    if listen == Some(&Listen::Unix(socket.clone())) {
        return Ok(None);
    }
    Daemon::start(store, &Listen::Unix(socket))
        .map(Some)
        .map_err(CliError::failed)
}

/// Runs `oxnix store` with `args` (without the program name).
pub fn run(args: Vec<OsString>) -> Result<(), CliError> {
    // A server must outlive clients that hang up mid-answer: writing to
    // their socket then fails with EPIPE instead of killing the process.
    // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let m = match command()
        .try_get_matches_from(std::iter::once(OsString::from("store")).chain(args))
    {
        Ok(m) => m,
        Err(e) => return clap_failure(e),
    };
    match m.subcommand() {
        Some(("daemon", m)) => daemon(m),
        Some(("mount", m)) => mount(m),
        _ => Err(CliError::Usage("no subcommand given".into())),
    }
}

fn daemon(m: &ArgMatches) -> Result<(), CliError> {
    let listen = m
        .get_one::<String>("listen")
        .map(String::as_str)
        .unwrap_or_default();
    let listen = Listen::parse(listen).map_err(CliError::failed)?;
    let (store, address) = open_store(m)?;
    let mut daemon = Daemon::start(&store, &listen).map_err(CliError::failed)?;
    let handoff = handoff_daemon(&store, &address, Some(&listen))?;
    eprintln!("oxnix store daemon listening on {}", daemon.address());
    let waited = daemon.wait_for_signal().map_err(CliError::failed);
    if let Some(h) = handoff {
        h.stop().map_err(CliError::failed)?;
    }
    waited?;
    daemon.stop().map_err(CliError::failed)
}

fn mount(m: &ArgMatches) -> Result<(), CliError> {
    let Some(mountpoint) = m.get_one::<PathBuf>("mountpoint") else {
        return Err(CliError::Usage("no mount point given".into()));
    };
    let (store, address) = open_store(m)?;
    let handoff = handoff_daemon(&store, &address, None)?;
    // Signals are caught from before the mount appears.
    let signals = Signals::new()?;
    let options = MountOptions {
        prefetch: !m.get_flag("no-prefetch"),
    };
    let mut mount = Mount::start_with(store, mountpoint, options).map_err(CliError::failed)?;
    eprintln!("oxnix store mounted on {}", mountpoint.display());
    signals.wait_or(mount.take_ended());
    let stats = mount.stats();
    let unmounted = mount.unmount().map_err(CliError::failed);
    if let Some(h) = handoff {
        h.stop().map_err(CliError::failed)?;
    }
    unmounted?;
    eprintln!(
        "oxnix store unmounted from {}: {} reads answered, {} files ({} bytes) prefetched",
        mountpoint.display(),
        stats.reads,
        stats.prefetched.files,
        stats.prefetched.bytes
    );
    Ok(())
}

/// SIGINT and SIGTERM, caught.
struct Signals {
    rt: tokio::runtime::Runtime,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, CliError> {
        use tokio::signal::unix::{signal, SignalKind};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CliError::failed)?;
        let _guard = rt.enter();
        let term = signal(SignalKind::terminate()).map_err(CliError::failed)?;
        let int = signal(SignalKind::interrupt()).map_err(CliError::failed)?;
        drop(_guard);
        Ok(Signals { rt, term, int })
    }

    /// Blocks until a signal arrives, or until `ended` gets a message.
    fn wait_or(mut self, ended: Option<std::sync::mpsc::Receiver<()>>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        if let Some(ended) = ended {
            std::thread::spawn(move || {
                if ended.recv().is_ok() {
                    let _ = tx.send(());
                }
            });
        }
        self.rt.block_on(async {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
                Some(()) = rx.recv() => {}
            }
        })
    }
}
