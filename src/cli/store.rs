//! `oxnix store`: commands that serve oxnix's store rather than query it.
//! `oxnix store daemon --listen ADDR` serves the store (chosen as for
//! `nix-store`: `--store`, `$OXNIX_STORE`, the default sled store) over
//! gRPC until SIGINT/SIGTERM; `oxnix store mount MOUNTPOINT` shows it as a
//! read-only FUSE file system until unmounted or interrupted.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgMatches, Command};

use super::{clap_failure, store_env, CliError};
use crate::castore::access::Limits;
use crate::store::daemon::{Daemon, DaemonConfig, Listen, TlsIdentity};
use crate::store::fuse::{Mount, MountOptions};
use crate::store::trust::{Token, TrustConfig, UserList};
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
                .long_about(DAEMON_ABOUT)
                .arg(
                    Arg::new("listen")
                        .long("listen")
                        .value_name("ADDR")
                        .required(true)
                        .help("HOST:PORT, grpc+http://HOST:PORT, grpc+https://HOST:PORT (with --tls-cert) or grpc+unix:///PATH (port 0: any free port, printed on stderr); TCP on a non-loopback address needs --token-file"),
                )
                .arg(store_arg())
                .arg(
                    Arg::new("trusted-users")
                        .long("trusted-users")
                        .value_name("USERS")
                        .help("Users trusted to register any path and to delete (names, @GROUP, *; space-separated); default: nix.conf's trusted-users, else root. Root and the daemon's own user are always trusted"),
                )
                .arg(
                    Arg::new("allowed-users")
                        .long("allowed-users")
                        .value_name("USERS")
                        .help("Users allowed to connect at all (names, @GROUP, *); default: nix.conf's allowed-users, else *"),
                )
                .arg(
                    Arg::new("token-file")
                        .long("token-file")
                        .value_name("FILE")
                        .value_parser(clap::value_parser!(PathBuf))
                        .value_hint(clap::ValueHint::FilePath)
                        .help("Over TCP, require this bearer token (the file's first line; the file must not be world-readable) on every call; its bearer is trusted"),
                )
                .arg(
                    Arg::new("tls-cert")
                        .long("tls-cert")
                        .value_name("FILE")
                        .requires("tls-key")
                        .value_parser(clap::value_parser!(PathBuf))
                        .value_hint(clap::ValueHint::FilePath)
                        .help("Serve TCP over TLS with this certificate chain (PEM); clients use grpc+https://HOST:PORT?ca-file=CA.pem"),
                )
                .arg(
                    Arg::new("tls-key")
                        .long("tls-key")
                        .value_name("FILE")
                        .requires("tls-cert")
                        .value_parser(clap::value_parser!(PathBuf))
                        .value_hint(clap::ValueHint::FilePath)
                        .help("The private key (PEM) of --tls-cert"),
                )
                .arg(
                    Arg::new("socket-mode")
                        .long("socket-mode")
                        .value_name("OCTAL")
                        .default_value("666")
                        .help("Permissions of the unix socket (allowed-users decides who may use it, as with C++ Nix's 0666 socket)"),
                )
                .arg(limit_arg("idle-timeout", "SECONDS", "60", "Fail a call whose client sends nothing (or reads nothing) for this long"))
                .arg(limit_arg("call-timeout", "SECONDS", "3600", "Fail a call that takes longer than this"))
                .arg(limit_arg("max-uploads", "N", "512", "Blob and directory uploads in progress at once, all clients together (more fail with RESOURCE_EXHAUSTED)"))
                .arg(limit_arg("max-uploads-per-client", "N", "128", "Uploads in progress at once for one user (or the token's holders)"))
                .arg(limit_arg("max-streams-per-connection", "N", "256", "Calls one connection may have open at once"))
                .arg(limit_arg("max-connections", "N", "1024", "Connections open at once, all clients together (more are closed as they come)"))
                .arg(limit_arg("max-connections-per-client", "N", "128", "Connections one user (over TCP with a token, one address) may have open at once"))
                .arg(limit_arg("max-busy-per-client", "N", "8", "Pieces of the store's work (on its 32 threads) one client may have running at once; more wait without holding a thread"))
                .arg(limit_arg("max-message-size", "BYTES", "67108864", "Largest message either side accepts"))
                .arg(limit_arg("max-directory-entries", "N", "1048576", "Most entries one directory may have"))
                .arg(limit_arg("max-closure", "N", "4194304", "Most directories one directory upload may carry"))
                .arg(limit_arg("max-signatures", "N", "64", "Most signatures one path may carry (each at most 1024 bytes)")),
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

const DAEMON_ABOUT: &str = "Serve the store over gRPC until SIGINT or SIGTERM.

Who may connect and who is trusted follow C++ Nix's daemon: the settings trusted-users and allowed-users (from $NIX_CONF_DIR/nix.conf, default /etc/nix/nix.conf, and the other files C++ Nix reads, unless given here). A client's user comes from the kernel: SO_PEERCRED on the unix socket, the owner of the client's socket on a loopback TCP connection. Untrusted clients may read, and add paths the daemon can verify (content-addressed: it recomputes the NAR hash and the content address); only trusted ones may register anything else or delete paths. Over TCP with --token-file, every call must carry the token instead, and its bearer is trusted; clients name the file with grpc+http://HOST:PORT?token-file=PATH or OXNIX_DAEMON_TOKEN_FILE. Without a token, the daemon listens on loopback addresses only.";

fn limit_arg(
    name: &'static str,
    value: &'static str,
    default: &'static str,
    help: &'static str,
) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name(value)
        .default_value(default)
        .value_parser(clap::value_parser!(u64).range(1..))
        .help(help)
}

/// The daemon's configuration from its flags and C++ Nix's settings.
fn daemon_config(m: &ArgMatches, address: &StoreAddress) -> Result<DaemonConfig, CliError> {
    let settings = super::legacy_args::load_settings(&|k| std::env::var(k).ok())?;
    let list = |flag: &str| -> Option<UserList> {
        match m.get_one::<String>(flag) {
            Some(v) => Some(UserList::parse(v)),
            None => settings
                .is_set(flag)
                .then(|| UserList::new(settings.get_list(flag))),
        }
    };
    let defaults = TrustConfig::default();
    let token = match m.get_one::<PathBuf>("token-file") {
        Some(f) => Some(Token::read(f, true).map_err(CliError::failed)?),
        None => None,
    };
    let trust = TrustConfig {
        trusted_users: list("trusted-users").unwrap_or(defaults.trusted_users),
        allowed_users: list("allowed-users").unwrap_or(defaults.allowed_users),
        token,
    };
    let mode = m
        .get_one::<String>("socket-mode")
        .map(String::as_str)
        .unwrap_or("666");
    let socket_mode = u32::from_str_radix(mode, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| {
            CliError::Usage(format!("invalid --socket-mode '{mode}' (octal, e.g. 666)"))
        })?;
    let n = |flag: &str| m.get_one::<u64>(flag).copied().unwrap_or(1);
    let size = |flag: &str| usize::try_from(n(flag)).unwrap_or(usize::MAX);
    let limits = Limits {
        idle_timeout: std::time::Duration::from_secs(n("idle-timeout")),
        call_timeout: std::time::Duration::from_secs(n("call-timeout")),
        max_uploads: size("max-uploads"),
        max_uploads_per_client: size("max-uploads-per-client"),
        max_message_size: size("max-message-size"),
        max_directory_entries: size("max-directory-entries"),
        max_closure: size("max-closure"),
        max_signatures: size("max-signatures"),
        max_signature_len: Limits::default().max_signature_len,
        max_streams_per_connection: u32::try_from(n("max-streams-per-connection"))
            .unwrap_or(u32::MAX),
        max_connections: size("max-connections"),
        max_connections_per_client: size("max-connections-per-client"),
        max_busy_per_client: size("max-busy-per-client"),
    };
    let tls = match (
        m.get_one::<PathBuf>("tls-cert"),
        m.get_one::<PathBuf>("tls-key"),
    ) {
        (Some(cert), Some(key)) => Some(TlsIdentity::read(cert, key).map_err(CliError::failed)?),
        _ => None,
    };
    Ok(DaemonConfig {
        trust,
        limits,
        socket_mode,
        state_dir: address.state_dir().map(Path::to_path_buf),
        tls,
        // `oxnix store daemon` serves until SIGINT or SIGTERM.
        catch_signals: true,
    })
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
    config: &DaemonConfig,
) -> Result<Option<Daemon>, CliError> {
    let Some(dir) = address.state_dir() else {
        return Ok(None);
    };
    let socket = crate::store::handoff_socket(dir);
    if listen == Some(&Listen::Unix(socket.clone())) {
        return Ok(None);
    }
    // For this store's own user's processes (the store's directory is
    // theirs): other users use the daemon's --listen socket.
    let config = DaemonConfig {
        socket_mode: 0o600,
        catch_signals: false,
        ..config.clone()
    };
    Daemon::start_with(store, &Listen::Unix(socket), &config)
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
    let config = daemon_config(m, &address)?;
    raise_descriptor_limit();
    if config.trust.token.is_some() && config.tls.is_none() {
        crate::log::warning(
            "the daemon's token travels in clear text over TCP; give --tls-cert and --tls-key, or keep it to loopback or a tunnel",
        );
    }
    let mut daemon = Daemon::start_with(&store, &listen, &config).map_err(CliError::failed)?;
    let handoff = handoff_daemon(&store, &address, Some(&listen), &config)?;
    eprintln!("oxnix store daemon listening on {}", daemon.address());
    let waited = daemon.wait_for_signal().map_err(CliError::failed);
    if let Some(h) = handoff {
        h.stop().map_err(CliError::failed)?;
    }
    waited?;
    daemon.stop().map_err(CliError::failed)
}

/// Raises the soft limit on open files to the hard one: each client
/// connection (and each upload's temporary blob) takes a descriptor, and
/// the connection limits, not the default soft limit, should decide how
/// many clients are served.
fn raise_descriptor_limit() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid rlimit for both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn mount(m: &ArgMatches) -> Result<(), CliError> {
    let Some(mountpoint) = m.get_one::<PathBuf>("mountpoint") else {
        return Err(CliError::Usage("no mount point given".into()));
    };
    let (store, address) = open_store(m)?;
    let config = DaemonConfig {
        state_dir: address.state_dir().map(Path::to_path_buf),
        ..DaemonConfig::default()
    };
    let handoff = handoff_daemon(&store, &address, None, &config)?;
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
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CliError::failed)?;
        let (term, int) = crate::store::daemon::catch_signals(&rt).map_err(CliError::failed)?;
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
