//! C++ Nix 2.8's garbage collector on its local store (`gc.cc`), so that
//! `nix-store --gc`/`--delete`/`-q --roots` here do what C++ Nix's do on
//! the same store, also while C++ Nix uses it:
//!
//! - `gc.lock` is held exclusively while collecting, so no process adds a
//!   temporary root without telling us: a process that cannot take it
//!   shared sends the path (a line) to the collector's socket
//!   `gc-socket/socket` and waits for the reply `1` ([`RootsServer`]).
//! - Roots: the `gcroots` tree and `profiles` (see
//!   [`crate::store::gc_roots`]), the store paths running processes use
//!   (`/proc/*/{exe,cwd,fd/*,maps,environ}`, [`runtime_roots`]) and the
//!   temporary roots in `temproots/PID` of processes still holding their
//!   file's lock (a file whose lock can be taken is stale and deleted).
//! - Every entry of the store directory is visited in directory order: a
//!   path is garbage when no path of its closure under referrers (with
//!   `keep-derivations`, a derivation's outputs it built; with
//!   `keep-outputs`, an output's derivations) is a root or a temporary
//!   root; garbage is invalidated (its `ValidPaths` row deleted) and then
//!   its files removed, referrers first. Entries that are not store paths
//!   are removed too (also by `--print-dead`, as Nix 2.8 does).
//! - A temporary root arriving for a path of the closure being deleted is
//!   answered once the deletion is over, so its sender sees the path
//!   invalid and adds it again (Nix 2.8 only holds back the last path
//!   examined).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{io_err, sql, LocalStore};
use crate::store::gc_roots::Roots;
use crate::store::StoreError;
use crate::store_path::{StoreDir, StorePath};

/// What the collector does (C++ Nix's `GCOptions::GCAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcAction {
    /// `--print-live`.
    ReturnLive,
    /// `--print-dead`.
    ReturnDead,
    /// `--gc`.
    DeleteDead,
    /// `--delete PATHS`.
    DeleteSpecific,
}

#[derive(Debug, Clone)]
pub struct GcOptions {
    pub action: GcAction,
    /// With [`GcAction::DeleteSpecific`].
    pub paths_to_delete: BTreeSet<StorePath>,
    pub ignore_liveness: bool,
    pub max_freed: u64,
    pub keep_derivations: bool,
    pub keep_outputs: bool,
}

/// What the collector found or deleted: paths printed as the store names
/// them (also entries of the store directory that are not store paths).
#[derive(Debug, Default)]
pub struct GcResults {
    pub paths: BTreeSet<String>,
    pub bytes_freed: u64,
}

/// Garbage collection stopped at `--max-freed`.
struct LimitReached;

enum Stop {
    Limit(LimitReached),
    Error(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Stop {
        Stop::Error(e)
    }
}

/// What the roots server and the collector share: temporary roots (hash
/// parts, so that `.lock` files of a path count too) and the paths being
/// deleted.
#[derive(Default)]
struct Shared {
    temp_roots: HashSet<String>,
    pending: HashSet<String>,
}

type SharedState = Arc<(Mutex<Shared>, Condvar)>;

fn lock_shared(s: &SharedState) -> std::sync::MutexGuard<'_, Shared> {
    s.0.lock().unwrap_or_else(|p| p.into_inner())
}

/// The collector's side of `gc-socket/socket`: each line a client sends is
/// a store path to keep; the reply `1` says it is recorded.
struct RootsServer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    socket: PathBuf,
}

impl RootsServer {
    fn start(
        state_dir: &Path,
        store_dir: StoreDir,
        shared: SharedState,
    ) -> Result<RootsServer, StoreError> {
        let dir = state_dir.join("gc-socket");
        std::fs::create_dir_all(&dir)
            .map_err(io_err(format!("creating directory '{}'", dir.display())))?;
        let socket = dir.join("socket");
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)
            .map_err(io_err(format!("binding to socket '{}'", socket.display())))?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).map_err(
            io_err(format!("changing permissions of '{}'", socket.display())),
        )?;
        listener.set_nonblocking(true).map_err(io_err(format!(
            "making socket '{}' non-blocking",
            socket.display()
        )))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("gc-roots-server".into())
            .spawn(move || serve(listener, store_dir, shared, stop2))
            .map_err(io_err("starting the garbage collector's roots server"))?;
        Ok(RootsServer {
            stop,
            thread: Some(thread),
            socket,
        })
    }
}

impl Drop for RootsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn serve(listener: UnixListener, store_dir: StoreDir, shared: SharedState, stop: Arc<AtomicBool>) {
    use std::os::fd::AsRawFd;
    let mut clients: Vec<(UnixStream, std::thread::JoinHandle<()>)> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, 50) };
        if n <= 0 {
            continue;
        }
        let Ok((conn, _)) = listener.accept() else {
            continue;
        };
        let _ = conn.set_nonblocking(false);
        let Ok(keep) = conn.try_clone() else {
            continue;
        };
        let (dir, shared) = (store_dir.clone(), shared.clone());
        if let Ok(t) = std::thread::Builder::new()
            .name("gc-roots-client".into())
            .spawn(move || serve_client(conn, &dir, &shared))
        {
            clients.push((keep, t));
        }
        clients.retain(|(_, t)| !t.is_finished());
    }
    for (conn, t) in clients {
        let _ = conn.shutdown(std::net::Shutdown::Both);
        let _ = t.join();
    }
}

fn serve_client(conn: UnixStream, store_dir: &StoreDir, shared: &SharedState) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut lines = BufReader::new(conn);
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.last() != Some(&b'\n') {
            return;
        }
        line.pop();
        let text = String::from_utf8_lossy(&line);
        match store_dir.parse_path(&text) {
            Ok(p) => {
                let hash = p.hash_part().to_owned();
                let mut s = lock_shared(shared);
                s.temp_roots.insert(hash.clone());
                // A path being deleted: answer once it is gone, so the
                // client adds it again rather than trusting it.
                while s.pending.contains(&hash) {
                    s = shared.1.wait(s).unwrap_or_else(|p| p.into_inner());
                }
            }
            Err(_) => crate::log::error("received garbage instead of a root from client"),
        }
        if out.write_all(b"1").is_err() {
            return;
        }
    }
}

/// Targets found in `/proc`, with where they were found.
type Unchecked = BTreeMap<Vec<u8>, BTreeSet<PathBuf>>;

fn read_proc_link(file: PathBuf, unchecked: &mut Unchecked) {
    if let Ok(target) = std::fs::read_link(&file) {
        let t = target.as_os_str().as_bytes();
        if t.first() == Some(&b'/') {
            unchecked.entry(t.to_vec()).or_default().insert(file);
        }
    }
}

/// A line of `/proc/PID/maps` naming a file: its path (six fields, the
/// last an absolute path), as Nix 2.8's regular expression reads it.
fn maps_path(line: &[u8]) -> Option<&[u8]> {
    let fields: Vec<&[u8]> = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .collect();
    match fields.as_slice() {
        [_, _, _, _, _, p] if p.len() > 1 && p[0] == b'/' => Some(p),
        _ => None,
    }
}

/// Store paths (`STORE/` then `[0-9a-z][0-9a-zA-Z+-._?=]*`) anywhere in
/// `text`, as Nix 2.8 finds them in `/proc/PID/environ`.
fn store_path_mentions<'a>(store_dir: &str, text: &'a [u8]) -> Vec<&'a [u8]> {
    let needle = format!("{store_dir}/");
    let needle = needle.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + needle.len() < text.len() {
        if &text[i..i + needle.len()] != needle {
            i += 1;
            continue;
        }
        let start = i + needle.len();
        let first = text[start];
        if !(first.is_ascii_digit() || first.is_ascii_lowercase()) {
            i += 1;
            continue;
        }
        let mut end = start + 1;
        while end < text.len()
            && (text[end].is_ascii_alphanumeric() || b"+-._?=".contains(&text[end]))
        {
            end += 1;
        }
        found.push(&text[i..end]);
        i = end;
    }
    found
}

/// The store path `target` (a path on disk) is in, if it is in the store.
fn store_path_of(store_dir: &StoreDir, target: &[u8]) -> Option<StorePath> {
    let rest = target
        .strip_prefix(store_dir.as_str().as_bytes())?
        .strip_prefix(b"/")?;
    let base = rest.split(|b| *b == b'/').next()?;
    StorePath::parse_base_name(std::str::from_utf8(base).ok()?).ok()
}

/// The store paths running processes use, as Nix 2.8's
/// `findRuntimeRoots` finds them: `/proc/PID/exe`, `cwd`, `fd/*`, the
/// files mapped (`maps`), store paths in the environment (`environ`), and
/// the helpers the kernel runs. Unreadable entries are skipped; only
/// valid paths count. With `censor` every place is `{censored}`.
pub fn runtime_roots(
    store_dir: &StoreDir,
    censor: bool,
    is_valid: &mut dyn FnMut(&StorePath) -> bool,
) -> Roots {
    let mut unchecked = Unchecked::new();
    if let Ok(proc_dir) = std::fs::read_dir("/proc") {
        for ent in proc_dir.flatten() {
            let name = ent.file_name();
            let name = name.to_string_lossy();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let base = PathBuf::from("/proc").join(&*name);
            read_proc_link(base.join("exe"), &mut unchecked);
            read_proc_link(base.join("cwd"), &mut unchecked);
            let fd_dir = base.join("fd");
            let Ok(fds) = std::fs::read_dir(&fd_dir) else {
                continue;
            };
            for fd in fds.flatten() {
                if !fd.file_name().as_bytes().starts_with(b".") {
                    read_proc_link(fd_dir.join(fd.file_name()), &mut unchecked);
                }
            }
            let maps = base.join("maps");
            let Ok(text) = std::fs::read(&maps) else {
                continue;
            };
            for line in text.split(|b| *b == b'\n') {
                if let Some(p) = maps_path(line) {
                    unchecked
                        .entry(p.to_vec())
                        .or_default()
                        .insert(maps.clone());
                }
            }
            let environ = base.join("environ");
            let Ok(text) = std::fs::read(&environ) else {
                continue;
            };
            for m in store_path_mentions(store_dir.as_str(), &text) {
                unchecked
                    .entry(m.to_vec())
                    .or_default()
                    .insert(environ.clone());
            }
        }
    }
    for f in [
        "/proc/sys/kernel/modprobe",
        "/proc/sys/kernel/fbsplash",
        "/proc/sys/kernel/poweroff_cmd",
    ] {
        if let Ok(text) = std::fs::read(f) {
            unchecked.entry(text).or_default().insert(PathBuf::from(f));
        }
    }
    let mut roots = Roots::new();
    for (target, links) in unchecked {
        let Some(sp) = store_path_of(store_dir, &target) else {
            continue;
        };
        if !is_valid(&sp) {
            continue;
        }
        let entry = roots.entry(sp).or_default();
        if censor {
            entry.insert(PathBuf::from("{censored}"));
        } else {
            entry.extend(links);
        }
    }
    roots
}

impl LocalStore {
    /// Registers `path` as a temporary root of this process.
    pub fn add_temp_root(&self, path: &StorePath) -> Result<(), StoreError> {
        let printed = self.print(path);
        self.temp_roots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(&printed)
    }

    /// The temporary roots of live processes (`temproots/PID`, each root
    /// found at `{temp:PID}`, or `{censored}`); files no process holds
    /// any more are deleted, with a note for `info`.
    pub fn find_temp_roots(
        &self,
        roots: &mut Roots,
        censor: bool,
        info: &dyn Fn(&str),
    ) -> Result<(), StoreError> {
        let dir = self.state_dir.join("temproots");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(format!("reading directory '{}'", dir.display()))(e)),
        };
        for ent in entries.flatten() {
            let name = ent.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let Ok(pid) = name.parse::<i64>() else {
                continue;
            };
            let path = dir.join(&*name);
            let mut f = match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(io_err(format!(
                        "opening temporary roots file '{}'",
                        path.display()
                    ))(e))
                }
            };
            // A lock only a dead owner leaves to take.
            if f.try_lock().is_ok() {
                info(&format!(
                    "removing stale temporary roots file '{}'",
                    path.display()
                ));
                let _ = std::fs::remove_file(&path);
                let _ = f.write_all(b"d");
                continue;
            }
            let mut contents = Vec::new();
            f.read_to_end(&mut contents).map_err(io_err(format!(
                "reading temporary roots file '{}'",
                path.display()
            )))?;
            for root in contents.split(|b| *b == 0) {
                let Ok(text) = std::str::from_utf8(root) else {
                    continue;
                };
                if let Ok(sp) = self.store_dir.parse_path(text) {
                    roots
                        .entry(sp)
                        .or_default()
                        .insert(PathBuf::from(if censor {
                            "{censored}".to_owned()
                        } else {
                            format!("{{temp:{pid}}}")
                        }));
                }
            }
        }
        Ok(())
    }

    /// The roots without temporary ones: `gcroots`, `profiles` and the
    /// paths running processes use.
    pub fn find_roots_no_temp(&self, censor: bool, info: &dyn Fn(&str)) -> Roots {
        let mut roots = crate::store::gc_roots::find_roots(
            &self.state_dir,
            &self.store_dir,
            &mut |sp| self.is_valid(sp).unwrap_or(false),
            &mut |note| info(&note),
        );
        let runtime = runtime_roots(&self.store_dir, censor, &mut |sp| {
            self.is_valid(sp).unwrap_or(false)
        });
        for (p, links) in runtime {
            roots.entry(p).or_default().extend(links);
        }
        roots
    }

    /// Every root, as Nix 2.8's `findRoots` (`--print-roots`, `-q --roots`).
    pub fn find_roots(&self, censor: bool, info: &dyn Fn(&str)) -> Result<Roots, StoreError> {
        let mut roots = self.find_roots_no_temp(censor, info);
        self.find_temp_roots(&mut roots, censor, info)?;
        Ok(roots)
    }

    /// The derivation outputs recorded for `drv` (`DerivationOutputs`).
    pub fn derivation_outputs(
        &self,
        drv: &StorePath,
    ) -> Result<Vec<(String, StorePath)>, StoreError> {
        let db = self.db();
        let mut stmt = db
            .prepare_cached(
                "select d.id, d.path from DerivationOutputs d join ValidPaths v on d.drv = v.id where v.path = ?1",
            )
            .map_err(sql("querying derivation outputs"))?;
        let rows = stmt
            .query_map(params![self.print(drv)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(sql("querying derivation outputs"))?;
        let mut out = Vec::new();
        for r in rows {
            let (id, p) = r.map_err(sql("querying derivation outputs"))?;
            if let Ok(sp) = self.store_dir.parse_path(&p) {
                out.push((id, sp));
            }
        }
        Ok(out)
    }

    /// Deletes `path`'s row unless another valid path refers to it (Nix's
    /// `invalidatePathChecked`).
    pub fn invalidate_checked(&self, path: &StorePath) -> Result<(), StoreError> {
        let printed = self.print(path);
        let mut db = self.db();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("starting a transaction"))?;
        let id: Option<i64> = tx
            .query_row(
                "select id from ValidPaths where path = ?1",
                params![printed],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("querying path validity"))?;
        if let Some(id) = id {
            let mut referrers = Vec::new();
            {
                let mut stmt = tx
                    .prepare_cached(
                        "select path from Refs join ValidPaths on referrer = id where reference = ?1 and referrer != ?1",
                    )
                    .map_err(sql("querying referrers"))?;
                let rows = stmt
                    .query_map(params![id], |r| r.get::<_, String>(0))
                    .map_err(sql("querying referrers"))?;
                for r in rows {
                    referrers.push(r.map_err(sql("querying referrers"))?);
                }
            }
            if !referrers.is_empty() {
                referrers.sort();
                let shown: Vec<String> = referrers.iter().map(|r| format!("'{r}'")).collect();
                return Err(StoreError::Local(format!(
                    "cannot delete path '{printed}' because it is in use by {}",
                    shown.join(", ")
                )));
            }
            tx.execute("delete from ValidPaths where id = ?1", params![id])
                .map_err(sql("invalidating a path"))?;
        }
        tx.commit().map_err(sql("committing a transaction"))
    }

    /// Nix 2.8's `collectGarbage` (see the module's documentation).
    /// Messages go to `info` (as Nix's `printInfo`); a path of
    /// `--delete` still alive is [`StoreError::StillAlive`] once the
    /// others are deleted.
    pub fn collect_garbage(
        &self,
        options: &GcOptions,
        results: &mut GcResults,
        info: &dyn Fn(&str),
    ) -> Result<(), StoreError> {
        let should_delete = matches!(
            options.action,
            GcAction::DeleteDead | GcAction::DeleteSpecific
        );
        let mut options = options.clone();
        // `--delete --ignore-liveness` would otherwise follow outputs and
        // derivers into deleting them.
        if options.action == GcAction::DeleteSpecific && options.ignore_liveness {
            options.keep_outputs = false;
            options.keep_derivations = false;
        }
        if should_delete {
            let _ = std::fs::remove_file(self.state_dir.join("db/reserved"));
        }
        let gc_lock = super::locks::open_lock_file(&self.state_dir.join("gc.lock"))?;
        if gc_lock.try_lock().is_err() {
            info("waiting for the big garbage collector lock...");
            gc_lock
                .lock()
                .map_err(io_err("locking the garbage collector lock"))?;
        }
        let shared: SharedState = Arc::default();
        let _server = RootsServer::start(&self.state_dir, self.store_dir.clone(), shared.clone())?;

        info("finding garbage collector roots...");
        let mut roots: HashSet<StorePath> = HashSet::new();
        if !options.ignore_liveness {
            roots.extend(self.find_roots_no_temp(true, info).into_keys());
        }
        let mut temp = Roots::new();
        self.find_temp_roots(&mut temp, true, info)?;
        {
            let mut s = lock_shared(&shared);
            for p in temp.keys() {
                s.temp_roots.insert(p.hash_part().to_owned());
            }
        }
        roots.extend(temp.into_keys());

        let mut gc = Collector {
            store: self,
            options: &options,
            shared: &shared,
            roots,
            dead: HashSet::new(),
            alive: HashSet::new(),
            referrers: HashMap::new(),
            results,
            info,
        };
        if options.action == GcAction::DeleteSpecific {
            for p in &options.paths_to_delete {
                match gc.delete_referrers_closure(p) {
                    Ok(()) | Err(Stop::Limit(_)) => {}
                    Err(Stop::Error(e)) => return Err(e),
                }
                if !gc.dead.contains(p) {
                    return Err(StoreError::StillAlive(self.print(p)));
                }
            }
        } else if options.max_freed > 0 {
            info(if should_delete {
                "deleting garbage..."
            } else {
                "determining live/dead paths..."
            });
            match gc.delete_all() {
                Ok(()) | Err(Stop::Limit(_)) => {}
                Err(Stop::Error(e)) => return Err(e),
            }
        }
        match options.action {
            GcAction::ReturnLive => {
                let alive: Vec<String> = gc.alive.iter().map(|p| self.print(p)).collect();
                gc.results.paths.extend(alive);
                return Ok(());
            }
            GcAction::ReturnDead => {
                let dead: Vec<String> = gc.dead.iter().map(|p| self.print(p)).collect();
                gc.results.paths.extend(dead);
                return Ok(());
            }
            _ => {}
        }
        drop(gc);
        info("deleting unused links...");
        self.delete_unused_links(results, info)
    }

    /// Removes the files of `.links` nothing links to any more, and says
    /// how much hard linking saves.
    fn delete_unused_links(
        &self,
        results: &mut GcResults,
        info: &dyn Fn(&str),
    ) -> Result<(), StoreError> {
        let links = self.real_store.join(".links");
        let entries = std::fs::read_dir(&links)
            .map_err(io_err(format!("opening directory '{}'", links.display())))?;
        let (mut actual, mut unshared) = (0i64, 0i64);
        for ent in entries {
            let ent = ent.map_err(io_err(format!("reading directory '{}'", links.display())))?;
            let path = ent.path();
            let st = std::fs::symlink_metadata(&path)
                .map_err(io_err(format!("getting status of '{}'", path.display())))?;
            let size = st.size() as i64;
            if st.nlink() != 1 {
                actual += size;
                unshared += (st.nlink() as i64 - 1) * size;
                continue;
            }
            std::fs::remove_file(&path)
                .map_err(io_err(format!("deleting '{}'", path.display())))?;
            results.bytes_freed += st.size();
        }
        let st = std::fs::metadata(&links)
            .map_err(io_err(format!("getting status of '{}'", links.display())))?;
        let overhead = st.blocks() as i64 * 512;
        info(&format!(
            "note: currently hard linking saves {:.2} MiB",
            (unshared - actual - overhead) as f64 / (1024.0 * 1024.0)
        ));
        Ok(())
    }
}

struct Collector<'a> {
    store: &'a LocalStore,
    options: &'a GcOptions,
    shared: &'a SharedState,
    roots: HashSet<StorePath>,
    dead: HashSet<StorePath>,
    alive: HashSet<StorePath>,
    referrers: HashMap<StorePath, BTreeSet<StorePath>>,
    results: &'a mut GcResults,
    info: &'a dyn Fn(&str),
}

impl Collector<'_> {
    /// Visits every entry of the store directory, in directory order.
    fn delete_all(&mut self) -> Result<(), Stop> {
        let real = self.store.real_store.clone();
        let dir = std::fs::read_dir(&real)
            .map_err(io_err(format!("opening directory '{}'", real.display())))?;
        for ent in dir {
            let ent = ent.map_err(io_err(format!("reading directory '{}'", real.display())))?;
            let name = ent.file_name();
            let name = name.to_string_lossy().into_owned();
            if name == ".links" {
                continue;
            }
            match StorePath::parse_base_name(&name) {
                Ok(sp) => self.delete_referrers_closure(&sp)?,
                Err(_) => self.delete_from_store(&name)?,
            }
        }
        Ok(())
    }

    /// Deletes the files of the store directory's entry `base` (already
    /// invalid), counting the bytes freed.
    fn delete_from_store(&mut self, base: &str) -> Result<(), Stop> {
        let printed = format!("{}/{base}", self.store.store_dir.as_str());
        (self.info)(&format!("deleting '{printed}'"));
        self.results.paths.insert(printed);
        let freed = delete_path_counting(&self.store.real_store.join(base))?;
        self.results.bytes_freed += freed;
        if self.results.bytes_freed > self.options.max_freed {
            (self.info)(&format!(
                "deleted more than {} bytes; stopping",
                self.options.max_freed
            ));
            return Err(Stop::Limit(LimitReached));
        }
        Ok(())
    }

    fn mark_alive(&mut self, path: &StorePath, start: &StorePath) {
        self.alive.insert(path.clone());
        self.alive.insert(start.clone());
        let mut todo = vec![path.clone()];
        let mut seen = HashSet::new();
        while let Some(p) = todo.pop() {
            if !seen.insert(p.clone()) {
                continue;
            }
            if let Ok(Some(i)) = self.store.query_opt(&p) {
                self.alive.insert(p);
                todo.extend(i.references);
            }
        }
    }

    /// The closure of `start` under referrers (and derivation outputs,
    /// derivers as the settings say): garbage unless it reaches a root,
    /// then deleted referrers first.
    fn delete_referrers_closure(&mut self, start: &StorePath) -> Result<(), Stop> {
        let r = self.visit_closure(start);
        let mut s = lock_shared(self.shared);
        s.pending.clear();
        self.shared.1.notify_all();
        r
    }

    fn visit_closure(&mut self, start: &StorePath) -> Result<(), Stop> {
        let mut visited: BTreeSet<StorePath> = BTreeSet::new();
        let mut todo: VecDeque<StorePath> = VecDeque::new();
        visited.insert(start.clone());
        todo.push_back(start.clone());
        while let Some(path) = todo.pop_front() {
            if self.alive.contains(&path) {
                self.alive.insert(start.clone());
                return Ok(());
            }
            if self.dead.contains(&path) {
                continue;
            }
            if self.roots.contains(&path) {
                self.mark_alive(&path, start);
                return Ok(());
            }
            if self.options.action == GcAction::DeleteSpecific
                && !self.options.paths_to_delete.contains(&path)
            {
                return Ok(());
            }
            {
                let hash = path.hash_part().to_owned();
                let mut s = lock_shared(self.shared);
                if s.temp_roots.contains(&hash) {
                    drop(s);
                    self.mark_alive(&path, start);
                    return Ok(());
                }
                s.pending.insert(hash);
            }
            if self.store.is_valid(&path)? {
                let referrers = match self.referrers.get(&path) {
                    Some(r) => r.clone(),
                    None => {
                        let r = self.store.referrers(&path)?;
                        self.referrers.insert(path.clone(), r.clone());
                        r
                    }
                };
                let mut next: Vec<StorePath> = referrers.into_iter().collect();
                if self.options.keep_derivations && path.name().ends_with(".drv") {
                    for (_, out) in self.store.derivation_outputs(&path)? {
                        if let Some(i) = self.store.query_opt(&out)? {
                            if i.deriver.as_ref() == Some(&path) {
                                next.push(out);
                            }
                        }
                    }
                }
                if self.options.keep_outputs {
                    next.extend(self.store.valid_derivers(&path)?);
                }
                for n in next {
                    if visited.insert(n.clone()) {
                        todo.push_back(n);
                    }
                }
            }
        }
        // Referrers first: the reverse of references first.
        let mut order = crate::store::sort_references_first(&visited, &mut |p| {
            Ok(self
                .store
                .query_opt(p)?
                .map(|i| i.references)
                .unwrap_or_default())
        })?;
        order.reverse();
        for path in order {
            if !self.dead.insert(path.clone()) {
                continue;
            }
            if matches!(
                self.options.action,
                GcAction::DeleteDead | GcAction::DeleteSpecific
            ) {
                self.store.invalidate_checked(&path)?;
                self.delete_from_store(path.base_name())?;
                self.referrers.remove(&path);
            }
        }
        Ok(())
    }
}

/// Removes `path` (made accessible as needed), answering the bytes freed:
/// the sizes of the files other than directories that had no other link.
pub fn delete_path_counting(path: &Path) -> Result<u64, StoreError> {
    let mut freed = 0u64;
    // (path, children pushed already)
    let mut stack: Vec<(PathBuf, bool)> = vec![(path.to_owned(), false)];
    while let Some((p, expanded)) = stack.pop() {
        let st = match std::fs::symlink_metadata(&p) {
            Ok(st) => st,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(format!("getting status of '{}'", p.display()))(e)),
        };
        if !st.is_dir() {
            if st.nlink() == 1 {
                freed += st.size();
            }
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(format!("cannot unlink '{}'", p.display()))(e)),
            }
            continue;
        }
        if expanded {
            match std::fs::remove_dir(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(format!("cannot unlink '{}'", p.display()))(e)),
            }
            continue;
        }
        let mode = st.mode();
        if mode & 0o700 != 0o700 {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode((mode | 0o700) & 0o7777))
                .map_err(io_err(format!("chmod '{}'", p.display())))?;
        }
        stack.push((p.clone(), true));
        let entries = std::fs::read_dir(&p)
            .map_err(io_err(format!("opening directory '{}'", p.display())))?;
        for e in entries {
            let e = e.map_err(io_err(format!("reading directory '{}'", p.display())))?;
            stack.push((e.path(), false));
        }
    }
    Ok(freed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_name_files_as_nix_reads_them() {
        let l = b"7f0000-7f1000 r-xp 00000000 08:01 1234   /nix/store/abc-x/lib/libc.so";
        assert_eq!(maps_path(l), Some(&b"/nix/store/abc-x/lib/libc.so"[..]));
        assert_eq!(maps_path(b"7f0000-7f1000 rw-p 00000000 00:00 0"), None);
        assert_eq!(
            maps_path(b"7f0000-7f1000 r-xp 00000000 08:01 1 /x/y (deleted)"),
            None
        );
    }

    #[test]
    fn environ_mentions_are_found() {
        let env = b"PATH=/nix/store/aaa-bin/bin:/usr/bin\0X=/nix/store/.links\0Y=/nix/store/b=c?d";
        let found = store_path_mentions("/nix/store", env);
        assert_eq!(
            found,
            vec![&b"/nix/store/aaa-bin"[..], &b"/nix/store/b=c?d"[..]]
        );
    }
}
