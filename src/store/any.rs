//! Every kind of store a command can work on, behind one type
//! ([`AnyStore`]): oxnix's own castore store ([`Store`]), C++ Nix's local
//! store ([`LocalStore`]) and C++ Nix's daemon ([`DaemonClient`]); and the
//! addresses choosing one ([`AnyAddress`]): C++ Nix's `auto`, `local`,
//! `local?root=…`, a plain path, `daemon` and `unix://…`, and oxnix's own
//! `sled://…`, `memory://` and `grpc+…://…`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::local::{LocalConfig, LocalStore, ValidPathInfo};
use super::nix_daemon::{DaemonClient, DEFAULT_SOCKET};
use super::{PathInfo, Store, StoreAddress, StoreError};
use crate::hash::{Hash, HashAlgo};
use crate::store_path::{IngestionMethod, StoreDir, StorePath};

/// C++ Nix's default state directory.
pub const DEFAULT_STATE_DIR: &str = "/nix/var/nix";

/// Where C++ Nix keeps its state and its daemon listens, from the
/// environment as C++ Nix reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NixPaths {
    pub store_dir: StoreDir,
    /// `$NIX_STATE_DIR`, else `/nix/var/nix`.
    pub state_dir: PathBuf,
    /// `$NIX_DAEMON_SOCKET_PATH`, else `<state>/daemon-socket/socket`.
    pub daemon_socket: PathBuf,
    /// `$NIX_LOG_DIR`, else `/nix/var/log/nix`.
    pub log_dir: PathBuf,
}

impl NixPaths {
    pub fn from_env(store_dir: StoreDir, env: &dyn Fn(&str) -> Option<OsString>) -> NixPaths {
        let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
        let state_dir = non_empty("NIX_STATE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        let daemon_socket = non_empty("NIX_DAEMON_SOCKET_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                if state_dir == Path::new(DEFAULT_STATE_DIR) {
                    PathBuf::from(DEFAULT_SOCKET)
                } else {
                    state_dir.join("daemon-socket/socket")
                }
            });
        let log_dir = non_empty("NIX_LOG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(crate::store::local::DEFAULT_LOG_DIR));
        NixPaths {
            store_dir,
            state_dir,
            daemon_socket,
            log_dir,
        }
    }

    /// Whether a Nix installation is here: its state directory or its
    /// daemon's socket exists.
    pub fn installed(&self) -> bool {
        self.state_dir.exists() || self.daemon_socket.exists()
    }

    fn local(&self, root: Option<PathBuf>) -> LocalConfig {
        match root {
            Some(r) => LocalConfig::chroot(self.store_dir.clone(), r),
            None => LocalConfig {
                log_dir: self.log_dir.clone(),
                ..LocalConfig::new(self.store_dir.clone(), self.state_dir.clone())
            },
        }
    }
}

/// A store, as an address names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyAddress {
    /// oxnix's own store.
    Oxnix(StoreAddress),
    /// C++ Nix's local store.
    Local(LocalConfig),
    /// C++ Nix's daemon on this unix socket: `unix://SOCKET` when
    /// `named` (C++ Nix calls the store so), else `daemon` (or `auto`
    /// choosing it), on the default socket.
    Daemon { socket: PathBuf, named: bool },
    /// A kind of store of C++ Nix's that oxnix does not open (SSH stores,
    /// binary caches): opening it fails with
    /// [`StoreError::UnsupportedStore`].
    Unsupported(String, &'static str),
}

impl std::fmt::Display for AnyAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnyAddress::Oxnix(a) => write!(f, "{a}"),
            AnyAddress::Local(c) => match &c.root {
                Some(r) => write!(f, "local?root={}", r.display()),
                None => write!(f, "local"),
            },
            AnyAddress::Daemon {
                socket,
                named: true,
            } => write!(f, "unix://{}", socket.display()),
            AnyAddress::Daemon { named: false, .. } => write!(f, "daemon"),
            AnyAddress::Unsupported(a, _) => write!(f, "{a}"),
        }
    }
}

impl AnyAddress {
    /// Reads an address: C++ Nix's `auto`, `local[?root=DIR&state=DIR&store=DIR]`,
    /// an absolute path (a local store with that root), `daemon`,
    /// `unix://PATH`; or one of oxnix's ([`StoreAddress::parse`]).
    pub fn parse(s: &str, nix: &NixPaths) -> Result<AnyAddress, StoreError> {
        let (scheme, query) = s.split_once('?').unwrap_or((s, ""));
        let params: Vec<(&str, &str)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        let param = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        match scheme {
            "auto" => return Ok(Self::auto(nix)),
            "daemon" => return Ok(AnyAddress::daemon(nix)),
            "local" => {
                let c = nix.local(param("root").map(PathBuf::from));
                return Ok(AnyAddress::Local(with_params(c, &param)?));
            }
            _ => {}
        }
        if let Some(p) = scheme.strip_prefix("unix://") {
            if !p.starts_with('/') {
                return Err(StoreError::BadAddress(s.to_owned()));
            }
            return Ok(AnyAddress::Daemon {
                socket: PathBuf::from(p),
                named: true,
            });
        }
        let unsupported = match scheme.split_once("://").map(|(kind, _)| kind) {
            Some("ssh") => Some("C++ Nix's SSH stores (ssh://)"),
            Some("ssh-ng") => Some("C++ Nix's SSH stores (ssh-ng://)"),
            Some("http" | "https" | "file" | "s3") => Some("binary caches"),
            _ => None,
        };
        if let Some(what) = unsupported {
            // An error when the store is opened, as C++ Nix's SSH stores
            // connect only then (`--eval` may never need the store).
            return Ok(AnyAddress::Unsupported(s.to_owned(), what));
        }
        if scheme.starts_with('/') || scheme.starts_with("./") {
            // A local store with this root (and the same parameters as
            // `local?…`, as C++ Nix reads such an address).
            let root = std::path::absolute(scheme).unwrap_or_else(|_| PathBuf::from(scheme));
            let c = nix.local(Some(root));
            return Ok(AnyAddress::Local(with_params(c, &param)?));
        }
        StoreAddress::parse(s).map(AnyAddress::Oxnix)
    }

    /// C++ Nix's `auto`: the local store when its state directory is
    /// writable (or can be created), else the daemon when its socket
    /// exists, else the local store (whose opening then says why not).
    pub fn auto(nix: &NixPaths) -> AnyAddress {
        let writable = |p: &Path| {
            let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok();
            // SAFETY: a valid NUL-terminated path.
            c.is_some_and(|c| unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK) } == 0)
        };
        if writable(&nix.state_dir) {
            return AnyAddress::Local(nix.local(None));
        }
        if nix.daemon_socket.exists() {
            return AnyAddress::daemon(nix);
        }
        AnyAddress::Local(nix.local(None))
    }

    /// The address used when none is given: oxnix's store when chosen
    /// (`$OXNIX_STORE`, `$OXNIX_STORE_DIR`), else `$NIX_REMOTE` as C++ Nix
    /// reads it, else `auto` where a Nix installation is present, else
    /// oxnix's own store ([`StoreAddress::from_env`]).
    pub fn from_env(
        nix: &NixPaths,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<AnyAddress, StoreError> {
        let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
        if non_empty("OXNIX_STORE").is_some() || non_empty("OXNIX_STORE_DIR").is_some() {
            return StoreAddress::from_env(env).map(AnyAddress::Oxnix);
        }
        if let Some(remote) = non_empty("NIX_REMOTE") {
            return Self::parse(&remote.to_string_lossy(), nix);
        }
        if nix.installed() {
            return Ok(Self::auto(nix));
        }
        StoreAddress::from_env(env).map(AnyAddress::Oxnix)
    }

    /// The daemon on its default socket, as `daemon` names it.
    fn daemon(nix: &NixPaths) -> AnyAddress {
        AnyAddress::Daemon {
            socket: nix.daemon_socket.clone(),
            named: false,
        }
    }

    /// The state directory garbage collector roots go under (on disk),
    /// when the store is local.
    pub fn state_dir(&self) -> Option<PathBuf> {
        match self {
            AnyAddress::Oxnix(a) => a.state_dir().map(Path::to_owned),
            AnyAddress::Local(c) => Some(c.state_dir.clone()),
            AnyAddress::Daemon { .. } | AnyAddress::Unsupported(..) => None,
        }
    }
}

/// A store of any kind, and the store directory its paths are in.
pub struct AnyStore {
    pub store_dir: StoreDir,
    pub backend: Backend,
}

/// The kinds of store.
pub enum Backend {
    Oxnix(Store),
    Local(LocalStore),
    Daemon(Mutex<DaemonClient>),
}

impl AnyStore {
    /// Opens the store `address` names; paths are in `store_dir` (a local
    /// store's own configuration names its directory).
    pub fn open(address: &AnyAddress, store_dir: StoreDir) -> Result<AnyStore, StoreError> {
        let backend = match address {
            AnyAddress::Oxnix(a) => Backend::Oxnix(Store::open(a, store_dir.clone())?),
            AnyAddress::Local(c) => Backend::Local(LocalStore::open(c.clone())?),
            AnyAddress::Daemon { socket, .. } => {
                let mut c = DaemonClient::connect(socket, store_dir.clone())?;
                c.set_options(&[])?;
                Backend::Daemon(Mutex::new(c))
            }
            AnyAddress::Unsupported(a, what) => {
                return Err(StoreError::UnsupportedStore(a.clone(), what))
            }
        };
        let store_dir = match &backend {
            Backend::Local(l) => l.store_dir.clone(),
            _ => store_dir,
        };
        Ok(AnyStore { store_dir, backend })
    }

    /// oxnix's own store, when this is it.
    pub fn castore(&self) -> Option<&Store> {
        match &self.backend {
            Backend::Oxnix(s) => Some(s),
            _ => None,
        }
    }

    /// oxnix's own store, when this is it (to change its settings).
    pub fn castore_mut(&mut self) -> Option<&mut Store> {
        match &mut self.backend {
            Backend::Oxnix(s) => Some(s),
            _ => None,
        }
    }

    /// What kind of store this is, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.backend {
            Backend::Oxnix(_) => "oxnix's store",
            Backend::Local(_) => "C++ Nix's local store",
            Backend::Daemon(_) => "the Nix daemon",
        }
    }

    fn daemon<'a>(&self, c: &'a Mutex<DaemonClient>) -> MutexGuard<'a, DaemonClient> {
        c.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn print(&self, path: &StorePath) -> String {
        self.store_dir.print(path)
    }

    /// Where a path's files are on this machine's disk (C++ Nix's stores);
    /// `None` for oxnix's store, which keeps them in its castore.
    pub fn on_disk(&self, path: &StorePath) -> Option<PathBuf> {
        match &self.backend {
            Backend::Oxnix(_) => None,
            Backend::Local(s) => Some(s.real_path(path)),
            Backend::Daemon(_) => Some(PathBuf::from(self.print(path))),
        }
    }

    pub fn is_valid(&self, path: &StorePath) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Oxnix(s) => s.is_valid(path),
            Backend::Local(s) => s.is_valid(path),
            Backend::Daemon(c) => self.daemon(c).is_valid_path(path),
        }
    }

    /// The metadata of a valid path, or [`StoreError::NotValid`].
    pub fn query(&self, path: &StorePath) -> Result<ValidPathInfo, StoreError> {
        match &self.backend {
            Backend::Oxnix(s) => s.query(path).map(from_castore),
            Backend::Local(s) => s.query(path),
            Backend::Daemon(c) => self
                .daemon(c)
                .query_path_info(path)?
                .ok_or_else(|| StoreError::NotValid(self.print(path))),
        }
    }

    /// Adds the tree at `src` as a content-addressed path named `name`.
    pub fn add_path(
        &self,
        src: &Path,
        name: &str,
        method: IngestionMethod,
        algo: HashAlgo,
    ) -> Result<StorePath, StoreError> {
        match &self.backend {
            Backend::Oxnix(s) => s.add_path(src, name, method, algo),
            Backend::Local(s) => s.add_path(src, name, method, algo),
            Backend::Daemon(c) => {
                crate::store_path::validate_name(name, name)?;
                let cam = format!("fixed:{}{}", method.prefix(), algo.name());
                let info = if method == IngestionMethod::Recursive {
                    let nar = crate::nar::fs::dump_path(src, Vec::new())?;
                    self.daemon(c).add_ca_nar(name, &cam, &mut &nar[..])?
                } else {
                    let mut f = std::fs::File::open(src).map_err(|source| StoreError::Io {
                        context: format!("opening file '{}'", src.display()),
                        source,
                    })?;
                    self.daemon(c).add_ca_nar(name, &cam, &mut f)?
                };
                Ok(info.path)
            }
        }
    }

    /// Adds text files with references (valid, or earlier in `texts`).
    pub fn add_texts(
        &self,
        texts: &[(StorePath, Vec<u8>, BTreeSet<StorePath>)],
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Oxnix(s) => s.add_texts(texts),
            Backend::Local(s) => s.add_texts(texts),
            Backend::Daemon(c) => {
                let mut d = self.daemon(c);
                for (path, contents, refs) in texts {
                    let got = d.add_text(path.name(), contents, refs)?;
                    if &got != path {
                        return Err(StoreError::Daemon(format!(
                            "the Nix daemon stored '{}' as '{}'",
                            d.store_dir.print(path),
                            d.store_dir.print(&got)
                        )));
                    }
                }
                Ok(())
            }
        }
    }

    /// Adds the tree serialised in `nar` at the content-addressed `path`
    /// (`ca`: `fixed:r:sha256:…` or, for a flat file, `fixed:sha256:…`;
    /// `text:sha256:…` for a text file without references).
    pub fn add_nar(&self, path: &StorePath, nar: &[u8], ca: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Oxnix(s) => s.add_nar(path, nar, ca),
            Backend::Local(s) => s.add_nar(path, nar, ca),
            Backend::Daemon(c) => {
                let method = ca.rsplit_once(':').map_or(ca, |(m, _)| m);
                let info = if method.starts_with("fixed:r:") {
                    self.daemon(c)
                        .add_ca_nar(path.name(), method, &mut &nar[..])?
                } else if method.starts_with("fixed:") {
                    // Flat: the daemon reads the file's bytes, not a NAR.
                    let contents = flat_file_contents(nar)?;
                    self.daemon(c)
                        .add_ca_nar(path.name(), method, &mut &contents[..])?
                } else if method == "text:sha256" {
                    // A text (of no references here): its contents, as
                    // C++ Nix's client sends `addTextToStore`.
                    let contents = flat_file_contents(nar)?;
                    self.daemon(c).add_to_store(
                        path.name(),
                        method,
                        &BTreeSet::new(),
                        false,
                        &mut &contents[..],
                    )?
                } else {
                    return Err(StoreError::Daemon(format!(
                        "not supported yet: adding a path of content address '{method}' through the Nix daemon"
                    )));
                };
                if &info.path != path {
                    return Err(StoreError::Daemon(format!(
                        "the Nix daemon stored '{}' as '{}'",
                        self.print(path),
                        self.print(&info.path)
                    )));
                }
                Ok(())
            }
        }
    }

    /// Writes the NAR of a valid path to `out`.
    pub fn nar(&self, path: &StorePath, out: &mut dyn Write) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Oxnix(s) => s.nar(path, out).map(|_| ()),
            Backend::Local(s) => s.nar(path, out).map(|_| ()),
            Backend::Daemon(c) => self.daemon(c).nar_from_path(path, out),
        }
    }

    /// The valid paths that refer to `path`.
    pub fn referrers(&self, path: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        match &self.backend {
            Backend::Oxnix(s) => s.referrers(path),
            Backend::Local(s) => s.referrers(path),
            Backend::Daemon(c) => self.daemon(c).query_referrers(path),
        }
    }

    /// Builds (or substitutes) `paths` (`DRV!out1,out2` or store paths):
    /// only the Nix daemon builds; elsewhere an honest error.
    pub fn build_paths(&self, paths: &[String]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Daemon(c) => self.daemon(c).build_paths(paths),
            _ => Err(StoreError::Local(format!(
                "not supported yet: building '{}' (oxnix does not build derivations; C++ Nix's daemon does, with --store daemon)",
                paths
                    .first()
                    .and_then(|p| p.split('!').next())
                    .unwrap_or_default()
            ))),
        }
    }

    /// Reads C++ Nix's export format and adds every path in it (whose
    /// references must be valid or earlier in the stream); returns them in
    /// stream order. For C++ Nix's stores each NAR is kept in a temporary
    /// file until its trailer names the path; the daemon then checks it as
    /// it checks any client's (signatures, unless the user is trusted).
    pub fn import_paths(
        &self,
        input: &mut dyn std::io::Read,
    ) -> Result<Vec<StorePath>, StoreError> {
        self.import_paths_from(&mut std::io::BufReader::with_capacity(256 * 1024, input))
    }

    /// [`AnyStore::import_paths`] from a buffered reader, read no further
    /// than the export stream's end.
    pub fn import_paths_from(
        &self,
        r: &mut dyn std::io::BufRead,
    ) -> Result<Vec<StorePath>, StoreError> {
        use super::export::{bad, read_u64};
        if let Backend::Oxnix(s) = &self.backend {
            return super::export::import_paths_from(s, r);
        }
        let mut r = r;
        let mut imported = Vec::new();
        loop {
            match read_u64(&mut r)? {
                0 => break,
                1 => {}
                n => return Err(bad(format!("unexpected item marker {n}"))),
            }
            let mut tmp = tempfile::tempfile().map_err(|source| StoreError::Io {
                context: "creating a temporary file".into(),
                source,
            })?;
            let mut hasher = crate::hash::Hasher::new(HashAlgo::Sha256);
            let size = {
                let mut sink = Tee {
                    out: &mut tmp,
                    hasher: crate::hash::Hasher::new(HashAlgo::Sha256),
                };
                let mut tee = super::nix_daemon::TeeBufRead {
                    inner: &mut r,
                    out: &mut sink,
                    error: None,
                };
                let parsed =
                    crate::nar::reader::parse_buffered(&mut tee, &mut crate::nar::reader::Validate);
                if let Some(e) = tee.error {
                    return Err(StoreError::Write(e));
                }
                parsed.map_err(StoreError::BadNar)?;
                std::mem::swap(&mut hasher, &mut sink.hasher);
                use std::io::Seek;
                tmp.stream_position().map_err(StoreError::Write)?
            };
            let super::export::Trailer {
                path,
                references,
                deriver,
            } = super::export::read_trailer(&mut r, &self.store_dir)?;
            for reference in &references {
                if *reference != path && !self.is_valid(reference)? {
                    return Err(StoreError::NotValid(self.print(reference)));
                }
            }
            use std::io::Seek;
            tmp.rewind().map_err(StoreError::Write)?;
            let info = ValidPathInfo {
                path: path.clone(),
                nar_hash: hasher.finish(),
                nar_size: size,
                references,
                deriver,
                registration_time: super::now(),
                ultimate: false,
                signatures: Vec::new(),
                ca: None,
            };
            match &self.backend {
                Backend::Local(l) => {
                    l.add_nar_reader(info, &mut tmp)?;
                }
                Backend::Daemon(c) => self.daemon(c).add_to_store_nar(&info, &mut tmp)?,
                Backend::Oxnix(_) => unreachable!("handled above"),
            }
            imported.push(path);
        }
        Ok(imported)
    }

    /// Adds one path from its NAR (`info.nar_size` bytes of `nar`, no more
    /// read) with the path info a client gives (the serve protocol's
    /// `AddToStoreNar`, C++ Nix's `addToStore`). The NAR must have the
    /// hash and size given.
    pub fn add_with_info(
        &self,
        info: super::export::PathInfoGiven,
        nar: &mut dyn std::io::BufRead,
    ) -> Result<(), StoreError> {
        let full = |info: super::export::PathInfoGiven| ValidPathInfo {
            path: info.path,
            nar_hash: info.nar_hash,
            nar_size: info.nar_size,
            references: info.references,
            deriver: info.deriver,
            registration_time: super::now(),
            ultimate: false,
            signatures: info.signatures,
            ca: info.ca,
        };
        let size = info.nar_size;
        match &self.backend {
            Backend::Oxnix(s) => super::export::add_with_info(s, info, nar),
            Backend::Local(l) => l
                .add_nar_reader(full(info), &mut std::io::Read::take(nar, size))
                .map(|_| ()),
            Backend::Daemon(c) => self
                .daemon(c)
                .add_to_store_nar(&full(info), &mut std::io::Read::take(nar, size))
                .map(|_| ()),
        }
    }

    /// Registers `path` as a temporary root of this process, so that no
    /// collector deletes it while the process runs (oxnix's own store:
    /// its collector waits for the store's lock, which this process holds).
    pub fn add_temp_root(&self, path: &StorePath) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Oxnix(_) => Ok(()),
            Backend::Local(l) => l.add_temp_root(path),
            Backend::Daemon(c) => self.daemon(c).add_temp_root(path),
        }
    }

    /// The Nix daemon's connection, when this store is the daemon (whose
    /// own collector then does garbage collection).
    pub fn daemon_client(&self) -> Option<MutexGuard<'_, DaemonClient>> {
        match &self.backend {
            Backend::Daemon(c) => Some(self.daemon(c)),
            _ => None,
        }
    }

    /// Registers the symlink `link` as a garbage collector root.
    pub fn add_indirect_root(&self, link: &Path, address: &AnyAddress) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Daemon(c) => self.daemon(c).add_indirect_root(link),
            _ => match address.state_dir() {
                Some(state) => super::gc_roots::add_indirect_root(&state, link)
                    .map_err(|e| StoreError::Local(e.to_string())),
                None => Ok(()),
            },
        }
    }
}

/// The contents of the single regular file `nar` serialises (a flat
/// content-addressed path).
fn flat_file_contents(nar: &[u8]) -> Result<Vec<u8>, StoreError> {
    struct FileContents(Vec<u8>);
    impl crate::nar::reader::NarVisitor for FileContents {
        fn enter_directory(&mut self, _: &[Vec<u8>]) -> std::io::Result<()> {
            Err(std::io::Error::other(
                "a flat path is a single regular file",
            ))
        }
        fn leave_directory(&mut self, _: &[Vec<u8>]) -> std::io::Result<()> {
            Ok(())
        }
        fn symlink(&mut self, _: &[Vec<u8>], _: &[u8]) -> std::io::Result<()> {
            Err(std::io::Error::other(
                "a flat path is a single regular file",
            ))
        }
        fn regular(
            &mut self,
            _: &[Vec<u8>],
            _: bool,
            _: u64,
            contents: &mut dyn std::io::Read,
        ) -> std::io::Result<()> {
            contents.read_to_end(&mut self.0).map(|_| ())
        }
    }
    let mut file = FileContents(Vec::new());
    crate::nar::reader::parse(nar, &mut file).map_err(StoreError::BadNar)?;
    Ok(file.0)
}

/// A castore path info's metadata (without its tree).
pub fn from_castore(info: PathInfo) -> ValidPathInfo {
    let nar_hash = info.nar_hash();
    ValidPathInfo {
        path: info.store_path,
        nar_hash,
        nar_size: info.nar_size,
        references: info.references,
        deriver: info.deriver,
        registration_time: info.registration_time,
        ultimate: false,
        signatures: info.signatures,
        ca: info.ca,
    }
}

impl AnyStore {
    /// Every valid path.
    pub fn valid_paths(&self) -> Result<BTreeSet<StorePath>, StoreError> {
        match &self.backend {
            Backend::Oxnix(s) => Ok(s
                .path_infos
                .list()?
                .into_iter()
                .map(|i| i.store_path)
                .collect()),
            Backend::Local(s) => s.valid_paths(),
            Backend::Daemon(c) => self.daemon(c).query_all_valid_paths(),
        }
    }

    /// The closure of `paths` under references (or, with `referrers`,
    /// under referrers).
    pub fn closure(
        &self,
        paths: &BTreeSet<StorePath>,
        referrers: bool,
    ) -> Result<BTreeSet<StorePath>, StoreError> {
        if let Backend::Oxnix(s) = &self.backend {
            return s.closure(paths, referrers);
        }
        let mut done = BTreeSet::new();
        let mut todo: Vec<StorePath> = paths.iter().cloned().collect();
        while let Some(p) = todo.pop() {
            if !done.insert(p.clone()) {
                continue;
            }
            let next = if referrers {
                self.referrers(&p)?
            } else {
                self.query(&p)?.references
            };
            todo.extend(next.into_iter().filter(|n| !done.contains(n)));
        }
        Ok(done)
    }

    /// `paths` ordered so that a path comes after the paths (of the set) it
    /// refers to, as C++ Nix's `topoSortPaths`.
    pub fn sort_references_first(
        &self,
        paths: &BTreeSet<StorePath>,
    ) -> Result<Vec<StorePath>, StoreError> {
        if let Backend::Oxnix(s) = &self.backend {
            return s.sort_references_first(paths);
        }
        super::sort_references_first(paths, &mut |p| Ok(self.query(p)?.references))
    }

    /// Serialises a valid path again and hashes it: the recorded info and
    /// the hash found.
    pub fn verify(&self, path: &StorePath) -> Result<(ValidPathInfo, Hash), StoreError> {
        if let Backend::Oxnix(s) = &self.backend {
            let (info, h) = s.verify(path)?;
            return Ok((from_castore(info), h));
        }
        let info = self.query(path)?;
        let mut h = crate::hash::Hasher::new(HashAlgo::Sha256);
        self.nar(path, &mut h)?;
        Ok((info, h.finish()))
    }

    /// Writes `paths` (references first) in C++ Nix's export format,
    /// checking each NAR against its recorded hash as it goes.
    pub fn export_paths(
        &self,
        paths: &BTreeSet<StorePath>,
        out: &mut dyn Write,
    ) -> Result<(), StoreError> {
        use super::export::{write_str, write_u64, EXPORT_MAGIC};
        if let Backend::Oxnix(s) = &self.backend {
            return super::export::export_paths(s, paths, out).map(|_| ());
        }
        let mut out = out;
        for p in self.sort_references_first(paths)? {
            let info = self.query(&p)?;
            write_u64(&mut out, 1)?;
            let mut tee = Tee {
                out: &mut out,
                hasher: crate::hash::Hasher::new(HashAlgo::Sha256),
            };
            self.nar(&p, &mut tee)?;
            let got = tee.hasher.finish();
            if got != info.nar_hash {
                return Err(StoreError::NarHashMismatch {
                    expected: Box::new(info.nar_hash),
                    actual: Box::new(got),
                });
            }
            write_u64(&mut out, EXPORT_MAGIC)?;
            write_str(&mut out, self.print(&p).as_bytes())?;
            write_u64(&mut out, info.references.len() as u64)?;
            for r in &info.references {
                write_str(&mut out, self.print(r).as_bytes())?;
            }
            let deriver = info
                .deriver
                .as_ref()
                .map(|d| self.print(d))
                .unwrap_or_default();
            write_str(&mut out, deriver.as_bytes())?;
            write_u64(&mut out, 0)?;
        }
        write_u64(&mut out, 0)?;
        out.flush().map_err(StoreError::Write)
    }
}

/// Copies to `out` and hashes what passes.
struct Tee<'a> {
    out: &'a mut dyn Write,
    hasher: crate::hash::Hasher,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// `local?…` parameters (`store`, `state`, `real`, `log`) applied to `c`.
fn with_params<'a>(
    mut c: LocalConfig,
    param: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<LocalConfig, StoreError> {
    if let Some(store) = param("store") {
        c.store_dir = StoreDir::new(store)?;
        if c.root.is_none() {
            c.real_store_dir = PathBuf::from(store);
        }
    }
    if let Some(state) = param("state") {
        c.state_dir = PathBuf::from(state);
    }
    if let Some(real) = param("real") {
        c.real_store_dir = PathBuf::from(real);
    }
    if let Some(log) = param("log") {
        c.log_dir = PathBuf::from(log);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nix() -> NixPaths {
        NixPaths::from_env(StoreDir::default(), &|_| None)
    }

    #[test]
    fn a_path_address_takes_the_parameters_of_local() {
        let Ok(AnyAddress::Local(c)) = AnyAddress::parse("/r?store=/s&real=/r/s&log=/l", &nix())
        else {
            panic!("a local store")
        };
        assert_eq!(c.root.as_deref(), Some(Path::new("/r")));
        assert_eq!(c.store_dir.as_str(), "/s");
        assert_eq!(c.real_store_dir, Path::new("/r/s"));
        assert_eq!(c.state_dir, Path::new("/r/nix/var/nix"));
        assert_eq!(c.log_dir, Path::new("/l"));
        let Ok(AnyAddress::Local(c)) = AnyAddress::parse("local?root=/r", &nix()) else {
            panic!("a local store")
        };
        assert_eq!(c.real_store_dir, Path::new("/r/nix/store"));
        assert_eq!(c.log_dir, Path::new("/r/nix/var/log/nix"));
        let Ok(AnyAddress::Local(c)) = AnyAddress::parse("local", &nix()) else {
            panic!("a local store")
        };
        assert_eq!(c.log_dir, Path::new("/nix/var/log/nix"));
    }

    #[test]
    fn stores_of_other_kinds_are_named_as_not_supported() {
        for a in [
            "ssh://host",
            "ssh-ng://h?remote-store=x",
            "https://cache.nixos.org",
            "file:///c",
        ] {
            // Read as an address (`--eval` may never open the store)…
            let address = AnyAddress::parse(a, &nix()).expect(a);
            assert_eq!(address.to_string(), a);
            // …and refused when opened.
            let Err(e) = AnyStore::open(&address, StoreDir::default()) else {
                panic!("{a} opened")
            };
            let e = e.to_string();
            assert!(e.starts_with("not supported yet: the store '"), "{e}");
        }
    }
}
