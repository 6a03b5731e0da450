//! The Nix store on top of the castore: [`PathInfo`]s name castore trees as
//! store paths, [`PathInfoService`] keeps them, [`ingest`] and [`render`]
//! move trees between the file system, NARs and the castore, and [`Store`]
//! ties the three services together behind one address string
//! ([`StoreAddress`]: `memory://`, `sled:///abs/path`, or a daemon at
//! `grpc+http://…`/`grpc+unix://…`, see [`grpc`] and [`daemon`]) with the
//! operations `nix-store` needs.

pub mod admission;
pub mod any;
pub mod browse;
pub mod daemon;
pub mod export;
pub mod fuse;
pub mod gc;
pub mod gc_roots;
pub mod grpc;
pub mod ingest;
pub mod local;
pub mod nix_daemon;
pub mod path_info;
pub mod path_info_service;
pub mod proto;
pub mod render;
pub mod trust;
pub mod validity;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::castore::grpc::{GrpcBlobService, GrpcConnection, GrpcDirectoryService, GrpcEndpoint};
use crate::castore::{
    BlobDamage, BlobService, CastoreError, CollectLock, DirectoryService, FsBlobService,
    MemoryBlobService, MemoryDirectoryService, SledDirectoryService,
};
use crate::hash::{Hash, HashAlgo, HashFormat};
use crate::nar::fs::DumpError;
use crate::nar::NarError;
use crate::store_path::{IngestionMethod, StoreDir, StorePath, StorePathError};

pub use ingest::{ingest_nar, ingest_path, IngestProgress, Ingested};
pub use path_info::{PathInfo, PathInfoError};
pub use path_info_service::{MemoryPathInfoService, PathInfoService, SledPathInfoService};

/// Why a store operation failed. Messages of the errors `nix-store` shows
/// follow C++ Nix.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0}")]
    Castore(#[from] CastoreError),
    #[error("{0}")]
    StorePath(#[from] StorePathError),
    #[error("{0}")]
    Dump(#[from] DumpError),
    #[error("bad archive: {0}")]
    BadNar(NarError),
    #[error("writing NAR: {0}")]
    Nar(io::Error),
    #[error("{0}")]
    Write(io::Error),
    #[error("hash mismatch importing path: specified: {}, got: {}", .expected.to_string_with(HashFormat::Nix32), .actual.to_string_with(HashFormat::Nix32))]
    NarHashMismatch {
        expected: Box<Hash>,
        actual: Box<Hash>,
    },
    /// A path added with its NAR and path info (`--serve`'s
    /// `AddToStoreNar`), in C++ Nix's words (its continuation lines
    /// indented past `error: `, as C++ Nix prints them).
    #[error("hash mismatch importing path '{path}';\n         specified: {}\n         got:       {}", .expected.to_string_with(HashFormat::Nix32), .actual.to_string_with(HashFormat::Nix32))]
    ImportHashMismatch {
        path: String,
        expected: Box<Hash>,
        actual: Box<Hash>,
    },
    #[error("size mismatch importing path: specified: {expected}, got: {actual}")]
    NarSizeMismatch { expected: u64, actual: u64 },
    /// As C++ Nix words it for a directory.
    #[error("reading from file: Is a directory")]
    FlatDirectory,
    #[error("flat content addressing needs a regular file")]
    FlatNotRegular,
    #[error("path '{0}' is not valid")]
    NotValid(String),
    #[error("cannot delete path '{0}' since it is still alive. To find out why, use: nix-store --query --roots")]
    StillAlive(String),
    #[error("stored path info of '{path}' is corrupt: {error}")]
    CorruptPathInfo { path: String, error: PathInfoError },
    #[error("database: {0}")]
    Database(sled::Error),
    #[error("invalid store address '{0}' (expected memory://, sled:///ABSOLUTE/PATH, grpc+http://HOST:PORT or grpc+unix:///PATH)")]
    BadAddress(String),
    /// A kind of store C++ Nix opens and oxnix does not (yet).
    #[error("not supported yet: the store '{0}' (oxnix opens C++ Nix's local store and daemon, and its own stores; not {1})")]
    UnsupportedStore(String, &'static str),
    #[error("invalid listen address '{0}' (expected HOST:PORT, grpc+http://HOST:PORT or grpc+unix:///PATH)")]
    BadListen(String),
    #[error("store daemon: {0}")]
    Serve(String),
    #[error("{0}")]
    Trust(#[from] trust::TrustError),
    #[error("mount {0}")]
    Mount(String),
    /// A local store's SQLite database failed.
    #[error("{context}: {message}")]
    Sqlite { context: String, message: String },
    /// C++ Nix's daemon answered an error (its message) or could not be
    /// talked to.
    #[error("{0}")]
    Daemon(String),
    /// A local store (C++ Nix's layout) found something wrong.
    #[error("{0}")]
    Local(String),
    #[error("input is not in the Nix export format: {0}")]
    BadExport(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// A file's stored contents are not what was stored: `path` is the
    /// file's (from [`render`], relative to the rendered tree's root
    /// until [`StoreError::under`] puts the store path in front).
    #[error("the contents of '{path}' in oxnix's store are damaged ({damage}); run 'nix-store --verify --check-contents'")]
    Damaged { path: String, damage: BlobDamage },
    #[error("hash of path '{path}' has changed from '{}' to '{}'!", .expected.to_string_with(HashFormat::Nix32), .actual.to_string_with(HashFormat::Nix32))]
    NarHashChanged {
        path: String,
        expected: Box<Hash>,
        actual: Box<Hash>,
    },
}

impl StoreError {
    /// Damage found in a tree rendered as the store path printed `root`:
    /// the damaged file's path under it.
    pub fn under(self, root: &str) -> StoreError {
        match self {
            StoreError::Damaged { path, damage } => StoreError::Damaged {
                path: format!("{root}{path}"),
                damage,
            },
            e => e,
        }
    }
}

/// Where a store lives, parsed from one address string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreAddress {
    /// `memory://`: nothing outlives the process.
    Memory,
    /// `sled:///abs/path`: a sled database and a blob directory there.
    Sled(PathBuf),
    /// `grpc+http://host:port[?token-file=PATH]`: a daemon over TCP.
    GrpcHttp(HttpAddress),
    /// `grpc+unix:///path`: a daemon's unix socket.
    GrpcUnix(PathBuf),
}

impl std::fmt::Display for StoreAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreAddress::Memory => write!(f, "memory://"),
            StoreAddress::Sled(p) => write!(f, "sled://{}", p.display()),
            StoreAddress::GrpcHttp(a) => write!(f, "{a}"),
            StoreAddress::GrpcUnix(p) => write!(f, "grpc+unix://{}", p.display()),
        }
    }
}

impl StoreAddress {
    /// The directory a local store keeps its state in (its database, and
    /// garbage collector roots under `gcroots/`); `None` for a store in
    /// memory or behind a server.
    pub fn state_dir(&self) -> Option<&Path> {
        match self {
            StoreAddress::Sled(dir) => Some(dir),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Result<StoreAddress, StoreError> {
        let bad = || StoreError::BadAddress(s.to_owned());
        if s == "memory://" {
            return Ok(StoreAddress::Memory);
        }
        if let Some(p) = s.strip_prefix("sled://") {
            if !p.starts_with('/') {
                return Err(bad());
            }
            return Ok(StoreAddress::Sled(PathBuf::from(p)));
        }
        let https = s.strip_prefix("grpc+https://");
        if let Some(rest) = s.strip_prefix("grpc+http://").or(https) {
            let (hp, query) = match rest.split_once('?') {
                Some((hp, q)) => (hp, Some(q)),
                None => (rest, None),
            };
            if hp.is_empty() || hp.contains('/') && !hp.ends_with('/') {
                return Err(bad());
            }
            let mut address = HttpAddress::new(hp.trim_end_matches('/').to_owned());
            address.tls = https.is_some();
            for param in query.into_iter().flat_map(|q| q.split('&')) {
                match param.split_once('=') {
                    Some(("token-file", p)) if p.starts_with('/') => {
                        address.token_file = Some(PathBuf::from(p));
                    }
                    Some(("ca-file", p)) if p.starts_with('/') && address.tls => {
                        address.ca_file = Some(PathBuf::from(p));
                    }
                    _ => return Err(bad()),
                }
            }
            return Ok(StoreAddress::GrpcHttp(address));
        }
        if let Some(p) = s.strip_prefix("grpc+unix://") {
            if !p.starts_with('/') {
                return Err(bad());
            }
            return Ok(StoreAddress::GrpcUnix(PathBuf::from(p)));
        }
        Err(bad())
    }

    /// The address used when none is given: `$OXNIX_STORE`, else a sled
    /// store in `$OXNIX_STORE_DIR`, `$XDG_DATA_HOME/oxnix` or
    /// `$HOME/.local/share/oxnix`. `env` looks up environment variables.
    pub fn from_env(env: &dyn Fn(&str) -> Option<OsString>) -> Result<StoreAddress, StoreError> {
        let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
        if let Some(a) = non_empty("OXNIX_STORE") {
            return Self::parse(&a.to_string_lossy());
        }
        let dir = if let Some(d) = non_empty("OXNIX_STORE_DIR") {
            PathBuf::from(d)
        } else if let Some(d) = non_empty("XDG_DATA_HOME") {
            PathBuf::from(d).join("oxnix")
        } else if let Some(h) = non_empty("HOME") {
            PathBuf::from(h).join(".local/share/oxnix")
        } else {
            return Err(StoreError::BadAddress(
                "(none: set OXNIX_STORE, OXNIX_STORE_DIR or HOME)".into(),
            ));
        };
        Ok(StoreAddress::Sled(std::path::absolute(&dir).unwrap_or(dir)))
    }
}

/// A daemon's TCP address, as clients name it: `grpc+http://HOST:PORT`
/// or, over TLS, `grpc+https://HOST:PORT`, with the file holding the
/// daemon's token (`?token-file=PATH`) and, for TLS, the certificate
/// authority to check the daemon's certificate with (`ca-file=PATH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAddress {
    pub host_port: String,
    pub token_file: Option<PathBuf>,
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
}

impl HttpAddress {
    pub fn new(host_port: String) -> HttpAddress {
        HttpAddress {
            host_port,
            token_file: None,
            tls: false,
            ca_file: None,
        }
    }
}

impl std::fmt::Display for HttpAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "grpc+https" } else { "grpc+http" };
        write!(f, "{scheme}://{}", self.host_port)?;
        let mut sep = '?';
        for (k, v) in [("token-file", &self.token_file), ("ca-file", &self.ca_file)] {
            if let Some(v) = v {
                write!(f, "{sep}{k}={}", v.display())?;
                sep = '&';
            }
        }
        Ok(())
    }
}

/// The environment variable naming a token file for `grpc+http://`
/// addresses that do not name one.
pub const TOKEN_FILE_ENV: &str = "OXNIX_DAEMON_TOKEN_FILE";

/// The environment variable naming the certificate authority for
/// `grpc+https://` addresses that do not name one.
pub const CA_FILE_ENV: &str = "OXNIX_DAEMON_CA_FILE";

/// A store: the three services and the store directory its paths are in.
#[derive(Clone)]
pub struct Store {
    pub store_dir: StoreDir,
    pub blobs: Arc<dyn BlobService>,
    pub directories: Arc<dyn DirectoryService>,
    pub path_infos: Arc<dyn PathInfoService>,
    /// Told of the progress of `add_path` and imports (a progress bar).
    pub progress: Option<Arc<dyn IngestProgress>>,
    /// Keeps writes and garbage collection of this store apart within the
    /// process (see [`gc`]); shared by clones.
    pub collect_lock: CollectLock,
    /// A local store's database, flushed when the last clone goes
    /// (before the lock is let go: fields drop in order).
    _db: Option<Arc<FlushOnDrop>>,
    /// The lock on a local store's directory, held while this process
    /// uses it (see [`Store::open`]).
    _lock: Option<Arc<std::fs::File>>,
}

/// The socket a process serving a local store (`oxnix store daemon`,
/// `oxnix store mount`) listens on in the store's directory, so that other
/// processes use the store through it while it holds the store.
pub fn handoff_socket(dir: &Path) -> PathBuf {
    dir.join("daemon.sock")
}

/// Removes the files in `tmp` (temporary blobs of an add that was killed
/// or failed); errors are left for the next start.
fn remove_temporaries(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let _ = std::fs::remove_file(e.path());
    }
}

/// Removes what sled leaves behind when a process writing it dies or runs
/// out of space: snapshots being generated (`db/snap.*.generating`). sled
/// 0.34 takes the newest-named snapshot file at open, this one included,
/// and reports an empty or partial one as "Read corrupted data" from then
/// on; the complete snapshot before it and the log are what it recovers
/// from. Only called with the store's lock held: no one else writes it.
fn remove_sled_leftovers(db: &Path) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(db) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StoreError::Io {
                context: format!("reading '{}'", db.display()),
                source,
            })
        }
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(e.path()).map_err(|source| StoreError::Io {
                context: format!("removing '{}'", e.path().display()),
                source,
            })?;
        }
    }
    Ok(())
}

/// Takes the lock on the local store in `dir`. One process at a time uses
/// a local store's database; another one waits for it, saying so once,
/// unless a process serving the store listens on its [`handoff_socket`]:
/// then `Err(socket)` says to use the store through it.
fn lock_store_dir(dir: &Path) -> Result<Result<std::fs::File, PathBuf>, StoreError> {
    let path = dir.join("lock");
    let io = |source| StoreError::Io {
        context: format!("locking '{}'", path.display()),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => return Ok(Ok(file)),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    // The holder may be a daemon that has not started listening yet (it
    // takes the lock first): keep looking for its socket while waiting.
    let socket = handoff_socket(dir);
    let mut said = false;
    let mut pause = Duration::from_millis(5);
    let began = std::time::Instant::now();
    loop {
        if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            return Ok(Err(socket));
        }
        // Said once, and not for a daemon about to listen.
        if !said && began.elapsed() >= Duration::from_millis(500) {
            crate::log::message(
                crate::log::Level::Error,
                &format!("waiting for the lock on store '{}'...", dir.display()),
            );
            said = true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
        match file.try_lock() {
            Ok(()) => return Ok(Ok(file)),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
}

/// How long to wait for another process holding a sled store.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// Creates the database of a new store whole: in `db.new`, renamed to
/// `db` once complete, so that a process killed while creating it leaves
/// no half-made database behind (the store's lock is held).
fn create_sled(dir: &Path, db_path: &Path) -> Result<(), StoreError> {
    let tmp = dir.join("db.new");
    let io = |context: String| move |source| StoreError::Io { context, source };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(format!("removing '{}'", tmp.display())))?;
    }
    let made = sled_config(&tmp)
        .open()
        .and_then(|db| db.flush().map(|_| ()))
        .map_err(|e| sled_error(&tmp, e))
        .and_then(|()| {
            std::fs::rename(&tmp, db_path).map_err(io(format!("renaming '{}'", tmp.display())))
        });
    if made.is_err() {
        // Out of space, say: nothing half-made stays (the next process
        // would remove it too).
        let _ = std::fs::remove_dir_all(&tmp);
    }
    made
}

/// The memory sled may keep of the database (its default is 1 GiB, all of
/// which a large import fills): the records are small and the kernel's
/// page cache holds the file anyway.
const SLED_CACHE: u64 = 64 << 20;

/// How the database at `path` is opened.
fn sled_config(path: &Path) -> sled::Config {
    sled::Config::new()
        .path(path)
        .cache_capacity(SLED_CACHE)
        // Every write is flushed by its writer (and the database once more
        // when the store is dropped): no flushing thread, which sled
        // cannot do without (it panics when one cannot start).
        .flush_every_ms(None)
}

fn open_sled(dir: &Path) -> Result<sled::Db, StoreError> {
    let db_path = dir.join("db");
    if !db_path.exists() {
        create_sled(dir, &db_path)?;
    }
    let start = std::time::Instant::now();
    loop {
        match sled_config(&db_path).open() {
            Ok(db) => return Ok(db),
            // sled locks its database for one process: wait for the other
            // (one that does not take the store's lock, e.g. an older
            // oxnix). sled 0.34 reports it as `Other`, with this text.
            Err(sled::Error::Io(e))
                if (e.kind() == io::ErrorKind::WouldBlock
                    || e.to_string().contains("could not acquire lock"))
                    && start.elapsed() < LOCK_WAIT =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(sled_error(&db_path, e)),
        }
    }
}

/// sled runs its writes on a pool of threads; when none can be started
/// (out of memory: a thread's stack cannot be mapped) it says so once as a
/// warning and then waits forever for the work it queued. Hearing that
/// warning, the process ends as it does when memory runs out
/// ([`crate::allocator`]) instead of hanging. Installed once, as the
/// process's `log` logger (nothing else here uses that crate's records).
pub fn watch_sled() {
    static WATCH: SledWatch = SledWatch;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if ::log::set_logger(&WATCH).is_ok() {
            ::log::set_max_level(::log::LevelFilter::Warn);
        }
    });
}

struct SledWatch;

impl ::log::Log for SledWatch {
    fn enabled(&self, m: &::log::Metadata<'_>) -> bool {
        m.target().starts_with("sled") && m.level() <= ::log::Level::Warn
    }

    fn log(&self, record: &::log::Record<'_>) {
        if self.enabled(record.metadata()) && record.args().to_string().contains("threadpool") {
            crate::allocator::out_of_memory();
        }
    }

    fn flush(&self) {}
}

/// Flushes the database when the last handle of a store on it goes.
struct FlushOnDrop(sled::Db);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        let _ = self.0.flush();
    }
}

/// A failure of sled on the database at `db`: an I/O error (out of space,
/// say) names the database.
fn sled_error(db: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(source) => StoreError::Io {
            context: format!("opening the store's database '{}'", db.display()),
            source,
        },
        e => StoreError::Database(e),
    }
}

impl Store {
    /// A store in memory.
    pub fn memory(store_dir: StoreDir) -> Store {
        Store {
            store_dir,
            blobs: Arc::new(MemoryBlobService::new()),
            directories: Arc::new(MemoryDirectoryService::new()),
            path_infos: Arc::new(MemoryPathInfoService::new()),
            progress: None,
            collect_lock: CollectLock::new(),
            _db: None,
            _lock: None,
        }
    }

    /// Opens (creating if needed) the store at `address`.
    pub fn open(address: &StoreAddress, store_dir: StoreDir) -> Result<Store, StoreError> {
        match address {
            StoreAddress::Memory => Ok(Store::memory(store_dir)),
            StoreAddress::Sled(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                    context: format!("creating '{}'", dir.display()),
                    source,
                })?;
                let lock = match lock_store_dir(dir)? {
                    Ok(lock) => lock,
                    Err(socket) => return Self::remote(GrpcEndpoint::Unix(socket), store_dir),
                };
                // Whatever a killed writer left half-written: no process
                // writes into the store without the lock we now hold.
                remove_temporaries(&dir.join("blobs").join("tmp"));
                remove_sled_leftovers(&dir.join("db"))?;
                watch_sled();
                let db = open_sled(dir)?;
                Ok(Store {
                    store_dir,
                    blobs: Arc::new(FsBlobService::open(&dir.join("blobs"))?),
                    directories: Arc::new(SledDirectoryService::new(&db)?),
                    path_infos: Arc::new(SledPathInfoService::new(&db)?),
                    progress: None,
                    collect_lock: CollectLock::new(),
                    _db: Some(Arc::new(FlushOnDrop(db))),
                    _lock: Some(Arc::new(lock)),
                })
            }
            StoreAddress::GrpcHttp(a) => {
                let token_file = a.token_file.clone().or_else(|| {
                    std::env::var_os(TOKEN_FILE_ENV)
                        .filter(|v| !v.is_empty())
                        .map(PathBuf::from)
                });
                let token = match token_file {
                    Some(f) => Some(trust::Token::read(&f, false)?),
                    None => None,
                };
                let endpoint = if a.tls {
                    let ca_file = a.ca_file.clone().or_else(|| {
                        std::env::var_os(CA_FILE_ENV)
                            .filter(|v| !v.is_empty())
                            .map(PathBuf::from)
                    });
                    let Some(ca_file) = ca_file else {
                        return Err(StoreError::BadAddress(format!(
                            "{a} (a grpc+https:// address needs ?ca-file=PATH or {CA_FILE_ENV}: the certificate authority to check the daemon with)"
                        )));
                    };
                    let ca = std::fs::read(&ca_file).map_err(|source| StoreError::Io {
                        context: format!("reading '{}'", ca_file.display()),
                        source,
                    })?;
                    GrpcEndpoint::Tls {
                        host_port: a.host_port.clone(),
                        ca_pem: ca,
                    }
                } else {
                    GrpcEndpoint::Tcp(a.host_port.clone())
                };
                Self::remote_with(endpoint, store_dir, token.as_ref())
            }
            StoreAddress::GrpcUnix(p) => Self::remote(GrpcEndpoint::Unix(p.clone()), store_dir),
        }
    }

    /// A store served by a daemon.
    fn remote(endpoint: GrpcEndpoint, store_dir: StoreDir) -> Result<Store, StoreError> {
        Self::remote_with(endpoint, store_dir, None)
    }

    /// A store served by a daemon, presenting `token`.
    fn remote_with(
        endpoint: GrpcEndpoint,
        store_dir: StoreDir,
        token: Option<&trust::Token>,
    ) -> Result<Store, StoreError> {
        let conn = GrpcConnection::connect_with_token(&endpoint, token.map(|t| t.secret()))?;
        Ok(Store {
            store_dir,
            blobs: Arc::new(GrpcBlobService::new(&conn)),
            directories: Arc::new(GrpcDirectoryService::new(&conn)),
            path_infos: Arc::new(grpc::GrpcPathInfoService::new(&conn)),
            progress: None,
            collect_lock: CollectLock::new(),
            _db: None,
            _lock: None,
        })
    }

    /// The absolute form of `path`.
    pub fn print(&self, path: &StorePath) -> String {
        self.store_dir.print(path)
    }

    /// The path info of a valid path, or [`StoreError::NotValid`].
    pub fn query(&self, path: &StorePath) -> Result<PathInfo, StoreError> {
        self.path_infos
            .get(path)?
            .ok_or_else(|| StoreError::NotValid(self.print(path)))
    }

    pub fn is_valid(&self, path: &StorePath) -> Result<bool, StoreError> {
        Ok(self.path_infos.get(path)?.is_some())
    }

    /// Adds the tree at `path` as a content-addressed path named `name`, as
    /// `nix-store --add` (recursive sha256) and `--add-fixed` do.
    pub fn add_path(
        &self,
        path: &Path,
        name: &str,
        method: IngestionMethod,
        algo: HashAlgo,
    ) -> Result<StorePath, StoreError> {
        crate::store_path::validate_name(name, name)?;
        // No garbage collection in this process from the first blob to the
        // path info (see `gc`).
        let _writing = self.collect_lock.writing();
        if method == IngestionMethod::Flat {
            // Checked first, so that nothing is ingested in vain.
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.is_dir() => return Err(StoreError::FlatDirectory),
                Ok(m) if !m.is_file() => return Err(StoreError::FlatNotRegular),
                _ => {}
            }
        }
        let content = if method == IngestionMethod::Recursive && algo == HashAlgo::Sha256 {
            None
        } else {
            Some((method, algo))
        };
        let ing = ingest::ingest_path_with_progress(
            &*self.blobs,
            &*self.directories,
            path,
            content,
            self.progress.as_deref(),
        )?;
        let hash = ing.content_hash.unwrap_or(ing.nar_hash);
        let store_path =
            self.store_dir
                .fixed_output_path(name, method, &hash, &BTreeSet::new(), false)?;
        if self.is_valid(&store_path)? {
            return Ok(store_path);
        }
        let info = PathInfo {
            store_path: store_path.clone(),
            node: ing.node,
            references: BTreeSet::new(),
            nar_sha256: nar_digest(&ing.nar_hash),
            nar_size: ing.nar_size,
            deriver: None,
            signatures: Vec::new(),
            ca: Some(format!(
                "fixed:{}{}",
                method.prefix(),
                hash.to_string_with(HashFormat::Nix32)
            )),
            registration_time: now(),
        };
        self.path_infos.put(info)?;
        Ok(store_path)
    }

    /// Adds text files (`.drv` files, `builtins.toFile` results): each
    /// `(path, contents, references)` is the text path of `contents` with
    /// `references`, which must be valid or earlier in `texts`. The blobs
    /// are made durable once, then every path info is registered at once.
    pub fn add_texts(
        &self,
        texts: &[(StorePath, Vec<u8>, BTreeSet<StorePath>)],
    ) -> Result<(), StoreError> {
        let _writing = self.collect_lock.writing();
        let mut batch: BTreeSet<&StorePath> = BTreeSet::new();
        let mut infos = Vec::new();
        for (path, contents, references) in texts {
            if batch.contains(path) || self.is_valid(path)? {
                continue;
            }
            for r in references {
                if r != path && !batch.contains(r) && !self.is_valid(r)? {
                    return Err(StoreError::NotValid(self.print(r)));
                }
            }
            let io_error = |source| StoreError::Io {
                context: "writing a NAR".into(),
                source,
            };
            let mut w =
                crate::nar::writer::NarWriter::new(Vec::with_capacity(contents.len() + 128))
                    .map_err(io_error)?;
            w.regular_bytes(false, contents).map_err(io_error)?;
            let nar = w.finish().map_err(io_error)?;
            let mut blob = self.blobs.open_write()?;
            blob.write_all(contents).map_err(|source| StoreError::Io {
                context: "writing a blob into the store".into(),
                source,
            })?;
            let digest = blob.close()?;
            infos.push(PathInfo {
                store_path: path.clone(),
                node: crate::castore::Node::File {
                    digest,
                    size: contents.len() as u64,
                    executable: false,
                },
                references: references.clone(),
                nar_sha256: nar_digest(&Hash::of_bytes(HashAlgo::Sha256, &nar)),
                nar_size: nar.len() as u64,
                deriver: None,
                signatures: Vec::new(),
                ca: Some(format!(
                    "text:{}",
                    Hash::of_bytes(HashAlgo::Sha256, contents).to_string_with(HashFormat::Nix32)
                )),
                registration_time: now(),
            });
            batch.insert(path);
        }
        if infos.is_empty() {
            return Ok(());
        }
        // Blobs durable before the path infos naming them.
        self.blobs.sync()?;
        self.path_infos.put_many(infos)
    }

    /// Adds the tree serialised in `nar` at `path`, a content-addressed
    /// path without references (`builtins.path`, `filterSource`).
    pub fn add_nar(&self, path: &StorePath, nar: &[u8], ca: &str) -> Result<(), StoreError> {
        let _writing = self.collect_lock.writing();
        if self.is_valid(path)? {
            return Ok(());
        }
        let ing = ingest_nar(&*self.blobs, &*self.directories, nar, None)?;
        self.path_infos.put(PathInfo {
            store_path: path.clone(),
            node: ing.node,
            references: BTreeSet::new(),
            nar_sha256: nar_digest(&ing.nar_hash),
            nar_size: ing.nar_size,
            deriver: None,
            signatures: Vec::new(),
            ca: Some(ca.to_owned()),
            registration_time: now(),
        })
    }

    /// Writes the NAR of a valid path to `out`.
    pub fn nar<W: Write>(&self, path: &StorePath, out: W) -> Result<W, StoreError> {
        let info = self.query(path)?;
        render::write_nar(&*self.blobs, &*self.directories, &info.node, out)
            .map_err(|e| e.under(&self.print(path)))
    }

    /// C++ Nix's `computeFSClosure`: `paths` and everything they refer to
    /// (or, with `referrers`, everything referring to them), transitively.
    pub fn closure(
        &self,
        paths: &BTreeSet<StorePath>,
        referrers: bool,
    ) -> Result<BTreeSet<StorePath>, StoreError> {
        let referrer_map = if referrers {
            Some(self.referrer_map()?)
        } else {
            None
        };
        let mut done = BTreeSet::new();
        let mut todo: Vec<StorePath> = paths.iter().cloned().collect();
        while let Some(p) = todo.pop() {
            if !done.insert(p.clone()) {
                continue;
            }
            let next: Vec<StorePath> = match &referrer_map {
                Some(m) => m
                    .get(&p)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default(),
                None => self.query(&p)?.references.into_iter().collect(),
            };
            todo.extend(next.into_iter().filter(|n| !done.contains(n)));
        }
        Ok(done)
    }

    /// For every valid path, the valid paths that refer to it.
    pub fn referrer_map(&self) -> Result<BTreeMap<StorePath, BTreeSet<StorePath>>, StoreError> {
        let mut m: BTreeMap<StorePath, BTreeSet<StorePath>> = BTreeMap::new();
        for info in self.path_infos.list()? {
            for r in info.references {
                m.entry(r).or_default().insert(info.store_path.clone());
            }
        }
        Ok(m)
    }

    /// The valid paths referring to `path`.
    pub fn referrers(&self, path: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        Ok(self.referrer_map()?.remove(path).unwrap_or_default())
    }

    /// C++ Nix's `topoSortPaths` reversed: every path after the paths of
    /// `paths` it refers to; among unrelated paths, store path order.
    pub fn sort_references_first(
        &self,
        paths: &BTreeSet<StorePath>,
    ) -> Result<Vec<StorePath>, StoreError> {
        sort_references_first(paths, &mut |p| Ok(self.query(p)?.references))
    }

    /// Deletes `paths` (their path infos; the castore data stays until
    /// garbage collection). A path still referred to by a valid path outside
    /// `paths` is alive and is not deleted; nothing is deleted then.
    pub fn delete(&self, paths: &BTreeSet<StorePath>) -> Result<Vec<PathInfo>, StoreError> {
        let referrers = self.referrer_map()?;
        let mut infos = Vec::new();
        for p in paths {
            let info = self.query(p)?;
            if let Some(rs) = referrers.get(p) {
                if rs.iter().any(|r| r != p && !paths.contains(r)) {
                    return Err(StoreError::StillAlive(self.print(p)));
                }
            }
            infos.push(info);
        }
        for info in &infos {
            self.path_infos.delete(&info.store_path)?;
        }
        Ok(infos)
    }

    /// Checks that the whole tree of `node` is stored: every directory and
    /// every file's blob (without reading the blobs).
    pub fn check_tree(&self, node: &crate::castore::Node) -> Result<(), StoreError> {
        check_tree(&*self.blobs, &*self.directories, node)
    }

    /// Renders the path and hashes its NAR, checking every blob; returns
    /// its path info and the hash found ([`StoreError::Damaged`] when a
    /// file's contents are damaged).
    pub fn verify(&self, path: &StorePath) -> Result<(PathInfo, Hash), StoreError> {
        let info = self.query(path)?;
        let mut h = crate::hash::Hasher::new(HashAlgo::Sha256);
        render::hash_nar(&*self.blobs, &*self.directories, &info.node, &mut h)
            .map_err(|e| e.under(&self.print(path)))?;
        Ok((info, h.finish()))
    }
}

/// Checks that the whole tree of `node` is stored: every directory (fetched
/// in one call per tree) and every file's blob (without reading it).
pub fn check_tree(
    blobs: &dyn BlobService,
    directories: &dyn DirectoryService,
    node: &crate::castore::Node,
) -> Result<(), StoreError> {
    use crate::castore::Node;
    let mut files = Vec::new();
    match node {
        Node::File { digest, .. } => files.push(*digest),
        Node::Directory { digest, .. } => {
            let dirs = directories.get_recursive(digest)?;
            if dirs.is_empty() {
                return Err(CastoreError::MissingDirectory(*digest).into());
            }
            for dir in &dirs {
                for f in &dir.files {
                    let d = crate::castore::B3Digest::from_slice(&f.digest).ok_or_else(|| {
                        CastoreError::CorruptDirectory(
                            crate::castore::directory::digest(dir),
                            "file digest of wrong length".into(),
                        )
                    })?;
                    files.push(d);
                }
            }
        }
        Node::Symlink { .. } => {}
    }
    files.sort();
    files.dedup();
    for d in files {
        if !blobs.has(&d)? {
            return Err(CastoreError::MissingBlob(d).into());
        }
    }
    Ok(())
}

/// `paths` ordered so that a path comes after the paths of the set it
/// refers to (C++ Nix's `topoSortPaths`), with `references` giving each
/// path's references. Depth-first, post-order, with an explicit stack.
pub fn sort_references_first(
    paths: &BTreeSet<StorePath>,
    references: &mut dyn FnMut(&StorePath) -> Result<BTreeSet<StorePath>, StoreError>,
) -> Result<Vec<StorePath>, StoreError> {
    let mut refs: BTreeMap<&StorePath, BTreeSet<StorePath>> = BTreeMap::new();
    for p in paths {
        refs.insert(p, references(p)?);
    }
    let mut out = Vec::with_capacity(paths.len());
    let mut visited: BTreeSet<&StorePath> = BTreeSet::new();
    for start in paths {
        if !visited.insert(start) {
            continue;
        }
        let mut stack: Vec<(&StorePath, Vec<&StorePath>)> =
            vec![(start, children(&refs, start, paths))];
        while let Some((p, kids)) = stack.last_mut() {
            match kids.pop() {
                Some(k) => {
                    if visited.insert(k) {
                        let c = children(&refs, k, paths);
                        stack.push((k, c));
                    }
                }
                None => {
                    out.push((*p).clone());
                    stack.pop();
                }
            }
        }
    }
    Ok(out)
}

/// The references of `p` that are in `within`, other than `p`, in the order
/// the depth-first walk takes them (popped from the end: ascending).
fn children<'a>(
    refs: &BTreeMap<&StorePath, BTreeSet<StorePath>>,
    p: &StorePath,
    within: &'a BTreeSet<StorePath>,
) -> Vec<&'a StorePath> {
    let mut v: Vec<&'a StorePath> = refs
        .get(p)
        .map(|rs| {
            rs.iter()
                .filter(|r| *r != p)
                .filter_map(|r| within.get(r))
                .collect()
        })
        .unwrap_or_default();
    v.reverse();
    v
}

fn nar_digest(h: &Hash) -> [u8; 32] {
    let mut d = [0u8; 32];
    d.copy_from_slice(h.digest());
    d
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
