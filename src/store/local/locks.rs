//! C++ Nix's locks on a local store, so that oxnix and C++ Nix can use one
//! store at the same time: the big lock (`db/big-lock`, shared by every
//! process using the store), per-path locks (`PATH.lock`, exclusive while
//! a path is being added; deleted afterwards, marked stale for waiters),
//! and temporary roots (`temproots/PID`, the paths this process is adding,
//! which the garbage collector must keep; a running collector is told
//! through `gc-socket/socket`).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::super::StoreError;

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

/// Opens (creating) a lock file, mode 0600 as C++ Nix makes them.
pub fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io_err(format!("opening lock file '{}'", path.display())))
}

/// Takes the store's big lock shared, saying so while another process
/// holds it exclusively (a schema upgrade).
pub fn big_lock(db_dir: &Path) -> Result<File, StoreError> {
    let f = open_lock_file(&db_dir.join("big-lock"))?;
    match f.try_lock_shared() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            crate::log::message(
                crate::log::Level::Info,
                "waiting for the big Nix store lock...",
            );
            f.lock_shared()
                .map_err(io_err("locking the big Nix store lock"))?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(io_err("locking the big Nix store lock")(e));
        }
    }
    Ok(f)
}

/// An exclusive lock on a store path being added (`PATH.lock`).
pub struct PathLock {
    file: File,
    path: PathBuf,
}

impl PathLock {
    /// Locks `real_path` (its `.lock` file), waiting for another process
    /// holding it; a lock file deleted by its last holder is stale and
    /// taken anew.
    pub fn acquire(real_path: &Path) -> Result<PathLock, StoreError> {
        let mut lock_path = real_path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        loop {
            let file = open_lock_file(&lock_path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    crate::log::message(
                        crate::log::Level::Info,
                        &format!("waiting for lock on '{}'", real_path.display()),
                    );
                    file.lock()
                        .map_err(io_err(format!("locking '{}'", lock_path.display())))?;
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(io_err(format!("locking '{}'", lock_path.display()))(e))
                }
            }
            // Its holder deleted it and wrote a byte to say so.
            let stale = file
                .metadata()
                .map_err(io_err(format!("checking '{}'", lock_path.display())))?
                .len()
                != 0;
            if !stale {
                return Ok(PathLock {
                    file,
                    path: lock_path,
                });
            }
        }
    }
}

impl Drop for PathLock {
    fn drop(&mut self) {
        // Delete the lock file while holding it, then mark it stale for
        // whoever waits on the open file.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.write_all(b"d");
    }
}

/// This process's temporary roots file, `temproots/PID`.
pub struct TempRoots {
    file: Option<File>,
    path: PathBuf,
    state_dir: PathBuf,
    /// `gc.lock`, opened once.
    gc_lock: Option<File>,
}

impl TempRoots {
    pub fn new(state_dir: &Path) -> TempRoots {
        TempRoots {
            file: None,
            path: state_dir
                .join("temproots")
                .join(std::process::id().to_string()),
            state_dir: state_dir.to_owned(),
            gc_lock: None,
        }
    }

    /// Creates the file (once) and holds it locked shared, so the
    /// collector knows this process is alive.
    fn file(&mut self) -> Result<&mut File, StoreError> {
        if self.file.is_none() {
            std::fs::create_dir_all(self.path.parent().unwrap_or(Path::new("/")))
                .map_err(io_err("creating the temporary roots directory"))?;
            loop {
                // A file of a dead process with our pid is stale.
                let _ = std::fs::remove_file(&self.path);
                let f = open_lock_file(&self.path)?;
                f.lock_shared()
                    .map_err(io_err(format!("locking '{}'", self.path.display())))?;
                // The collector deletes files it could lock exclusively;
                // if it did so before we locked ours, start again.
                let len = f
                    .metadata()
                    .map_err(io_err(format!("checking '{}'", self.path.display())))?
                    .len();
                if len == 0 && self.path.exists() {
                    self.file = Some(f);
                    break;
                }
            }
        }
        self.file
            .as_mut()
            .ok_or_else(|| StoreError::Local("temporary roots file".into()))
    }

    /// Registers `printed` (an absolute store path as the store names it)
    /// as a temporary root: written to the file, and told to a collector
    /// that is running now.
    pub fn add(&mut self, printed: &str) -> Result<(), StoreError> {
        if self.gc_lock.is_none() {
            self.gc_lock = Some(open_lock_file(&self.state_dir.join("gc.lock"))?);
        }
        if let Some(gc_lock) = &self.gc_lock {
            loop {
                // No collector runs: it cannot start before the root is
                // written, as we hold its lock shared until then.
                if gc_lock.try_lock_shared().is_ok() {
                    break;
                }
                // A collector runs: it has the root once it answers. One
                // not listening yet, or gone meanwhile: try again.
                if self.tell_collector(printed)? {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        let f = self.file()?;
        f.lock()
            .map_err(io_err("locking the temporary roots file"))?;
        let mut line = printed.as_bytes().to_vec();
        line.push(0);
        let written = f
            .write_all(&line)
            .map_err(io_err("writing the temporary roots file"));
        f.lock_shared()
            .map_err(io_err("locking the temporary roots file"))?;
        if let Some(gc_lock) = &self.gc_lock {
            let _ = gc_lock.unlock();
        }
        written
    }

    /// A collector holds `gc.lock`: hand it the root over its socket and
    /// wait for its acknowledgement (C++ Nix's protocol: the path and a
    /// newline, answered by `1`). Answers whether the collector has it.
    fn tell_collector(&self, printed: &str) -> Result<bool, StoreError> {
        let socket = self.state_dir.join("gc-socket").join("socket");
        let mut conn = match std::os::unix::net::UnixStream::connect(&socket) {
            Ok(c) => c,
            // Not listening yet, or finished meanwhile.
            Err(_) => return Ok(false),
        };
        if conn.write_all(format!("{printed}\n").as_bytes()).is_err() {
            return Ok(false);
        }
        let mut ack = [0u8; 1];
        Ok(matches!(conn.read(&mut ack), Ok(1)) && ack[0] == b'1')
    }
}

impl Drop for TempRoots {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
