//! Whole-store maintenance on C++ Nix's local store, as Nix 2.8 does it:
//! `nix-store --verify [--check-contents] [--repair]` ([`LocalStore::verify_store`],
//! `verifyStore` in Nix's `local-store.cc`) and `nix-store --optimise`
//! ([`LocalStore::optimise_store`], `optimise-store.cc`: identical files
//! hard-linked to one copy in `STORE/.links`, named by the nix32 SHA-256
//! of the file's NAR serialisation).
//!
//! Messages go to a [`Messages`]: `info` as Nix's `printInfo`, `error` as
//! its `printError` (the text alone), `error_labelled` as an error it
//! logs (`error: …`), `warning` as `warning: …`, `talk` for `-v`.

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::os::unix::fs::{DirEntryExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::params;

use super::{io_err, set_mtime_one, sql, LocalStore};
use crate::hash::{Hash, HashAlgo, HashFormat, Hasher};
use crate::store::StoreError;
use crate::store_path::StorePath;

/// Where maintenance messages go.
pub struct Messages<'a> {
    pub info: &'a dyn Fn(&str),
    pub talk: &'a dyn Fn(&str),
    pub error: &'a dyn Fn(&str),
    pub error_labelled: &'a dyn Fn(&str),
    pub warning: &'a dyn Fn(&str),
}

/// The NAR hash (SHA-256) and size of the tree at `path`.
pub fn hash_path(path: &Path) -> Result<(Hash, u64), StoreError> {
    struct Counting {
        hasher: Hasher,
        count: u64,
    }
    impl io::Write for Counting {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.hasher.update(buf);
            self.count += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let c = crate::nar::fs::dump_path(
        path,
        Counting {
            hasher: Hasher::new(HashAlgo::Sha256),
            count: 0,
        },
    )?;
    Ok((c.hasher.finish(), c.count))
}

/// How much `--optimise` saved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OptimiseStats {
    pub files_linked: u64,
    pub bytes_freed: u64,
}

impl LocalStore {
    /// Repairing a path needs a substituter (oxnix has none) or a build of
    /// its deriver (oxnix does not build): C++ Nix's error without
    /// substituters, or an honest "not supported yet".
    pub fn repair_path(&self, path: &StorePath) -> Result<(), StoreError> {
        let info = self.query(path)?;
        if let Some(d) = &info.deriver {
            if self.is_valid(d)? {
                return Err(StoreError::Local(format!(
                    "not supported yet: repairing '{}' by building its deriver '{}' (oxnix does not build derivations)",
                    self.print(path),
                    self.print(d)
                )));
            }
        }
        Err(StoreError::Local(format!(
            "cannot repair path '{}'",
            self.print(path)
        )))
    }

    /// Nix 2.8's `verifyStore`: answers whether errors remain.
    pub fn verify_store(
        &self,
        check_contents: bool,
        repair: bool,
        m: &Messages<'_>,
    ) -> Result<bool, StoreError> {
        (m.info)("reading the Nix store...");
        let mut errors = false;
        // A consistent view of the paths on disk and valid ones.
        let gc_lock = super::locks::open_lock_file(&self.state_dir.join("gc.lock"))?;
        if gc_lock.try_lock_shared().is_err() {
            (m.info)("waiting for the big garbage collector lock...");
            gc_lock
                .lock_shared()
                .map_err(io_err("locking the garbage collector lock"))?;
        }
        let mut on_disk = HashSet::new();
        for e in std::fs::read_dir(&self.real_store).map_err(io_err(format!(
            "reading directory '{}'",
            self.real_store.display()
        )))? {
            let e = e.map_err(io_err(format!(
                "reading directory '{}'",
                self.real_store.display()
            )))?;
            on_disk.insert(e.file_name().to_string_lossy().into_owned());
        }
        (m.info)("checking path existence...");
        let mut done = HashSet::new();
        let mut valid = BTreeSet::new();
        for p in self.valid_paths()? {
            self.verify_path(&p, &on_disk, &mut done, &mut valid, repair, &mut errors, m)?;
        }
        if !check_contents {
            return Ok(errors);
        }
        (m.info)("checking link hashes...");
        let links = self.real_store.join(".links");
        for e in std::fs::read_dir(&links)
            .map_err(io_err(format!("opening directory '{}'", links.display())))?
        {
            let e = e.map_err(io_err(format!("reading directory '{}'", links.display())))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let link = links.join(&name);
            let (hash, _) = hash_path(&link)?;
            let hash = hash.encode(HashFormat::Nix32);
            if hash != name {
                (m.error)(&format!(
                    "link '{}' was modified! expected hash '{name}', got '{hash}'",
                    link.display()
                ));
                if repair {
                    std::fs::remove_file(&link).map_err(io_err(format!(
                        "removing corrupt link '{}'",
                        link.display()
                    )))?;
                    (m.info)(&format!("removed link '{}'", link.display()));
                } else {
                    errors = true;
                }
            }
        }
        (m.info)("checking store hashes...");
        for p in &valid {
            let r = (|| -> Result<(), StoreError> {
                let info = self.query(p)?;
                (m.talk)(&format!("checking contents of '{}'", self.print(p)));
                let (found, size) = hash_path(&self.real_path(p))?;
                if found != info.nar_hash {
                    (m.error)(&format!(
                        "path '{}' was modified! expected hash '{}', got '{}'",
                        self.print(p),
                        info.nar_hash.to_string_with(HashFormat::Nix32),
                        found.to_string_with(HashFormat::Nix32)
                    ));
                    if repair {
                        self.repair_path(p)?;
                    } else {
                        errors = true;
                    }
                } else if info.nar_size == 0 {
                    (m.error)(&format!(
                        "updating size field on '{}' to {size}",
                        self.print(p)
                    ));
                    self.db()
                        .execute(
                            "update ValidPaths set narSize = ?1 where path = ?2",
                            params![size as i64, self.print(p)],
                        )
                        .map_err(sql("updating a path"))?;
                }
                Ok(())
            })();
            if let Err(e) = r {
                // A path collected meanwhile is only worth a warning.
                if self.is_valid(p)? {
                    (m.error_labelled)(&e.to_string());
                } else {
                    (m.warning)(&e.to_string());
                }
                errors = true;
            }
        }
        Ok(errors)
    }

    #[allow(clippy::too_many_arguments)]
    fn verify_path(
        &self,
        path: &StorePath,
        on_disk: &HashSet<String>,
        done: &mut HashSet<StorePath>,
        valid: &mut BTreeSet<StorePath>,
        repair: bool,
        errors: &mut bool,
        m: &Messages<'_>,
    ) -> Result<(), StoreError> {
        if !done.insert(path.clone()) {
            return Ok(());
        }
        if on_disk.contains(path.base_name()) {
            valid.insert(path.clone());
            return Ok(());
        }
        // Referrers first: if they can go, this path can too.
        let mut can_invalidate = true;
        for r in self.referrers(path)? {
            if &r != path {
                self.verify_path(&r, on_disk, done, valid, repair, errors, m)?;
                if valid.contains(&r) {
                    can_invalidate = false;
                }
            }
        }
        let printed = self.print(path);
        if can_invalidate {
            (m.info)(&format!(
                "path '{printed}' disappeared, removing from database..."
            ));
            self.db()
                .execute("delete from ValidPaths where path = ?1", params![printed])
                .map_err(sql("invalidating a path"))?;
        } else {
            (m.error)(&format!(
                "path '{printed}' disappeared, but it still has valid referrers!"
            ));
            if repair {
                if let Err(e) = self.repair_path(path) {
                    (m.warning)(&e.to_string());
                }
            }
            *errors = true;
        }
        Ok(())
    }

    /// Nix 2.8's `optimiseStore`: every valid path's files (regular ones
    /// and symlinks, read-only) hard-linked to their copy in `.links`.
    pub fn optimise_store(&self, m: &Messages<'_>) -> Result<OptimiseStats, StoreError> {
        let links = self.real_store.join(".links");
        let mut inodes = HashSet::new();
        for e in std::fs::read_dir(&links)
            .map_err(io_err(format!("opening directory '{}'", links.display())))?
        {
            let e = e.map_err(io_err(format!("reading directory '{}'", links.display())))?;
            inodes.insert(e.ino());
        }
        (m.talk)(&format!("loaded {} hash inodes", inodes.len()));
        let mut stats = OptimiseStats::default();
        for p in self.valid_paths()? {
            self.add_temp_root(&p)?;
            // Collected meanwhile.
            if !self.is_valid(&p)? {
                continue;
            }
            (m.talk)(&format!("optimising path '{}'", self.print(&p)));
            // Depth first, in directory order, as Nix's recursion.
            let mut stack = vec![self.real_path(&p)];
            while let Some(path) = stack.pop() {
                let st = std::fs::symlink_metadata(&path).map_err(io_err(format!(
                    "getting attributes of path '{}'",
                    path.display()
                )))?;
                if st.is_dir() {
                    let mut names = Vec::new();
                    for e in std::fs::read_dir(&path)
                        .map_err(io_err(format!("opening directory '{}'", path.display())))?
                    {
                        let e =
                            e.map_err(io_err(format!("reading directory '{}'", path.display())))?;
                        if !inodes.contains(&e.ino()) {
                            names.push(e.path());
                        }
                    }
                    names.reverse();
                    stack.extend(names);
                    continue;
                }
                self.optimise_file(&path, &st, &links, &mut inodes, &mut stats, m)?;
            }
        }
        Ok(stats)
    }

    fn optimise_file(
        &self,
        path: &Path,
        st: &std::fs::Metadata,
        links: &Path,
        inodes: &mut HashSet<u64>,
        stats: &mut OptimiseStats,
        m: &Messages<'_>,
    ) -> Result<(), StoreError> {
        let ft = st.file_type();
        if !ft.is_file() && !ft.is_symlink() {
            return Ok(());
        }
        if ft.is_file() && st.mode() & 0o200 != 0 {
            (m.warning)(&format!(
                "skipping suspicious writable file '{}'",
                path.display()
            ));
            return Ok(());
        }
        if st.nlink() > 1 && inodes.contains(&st.ino()) {
            return Ok(());
        }
        let (hash, _) = hash_path(path)?;
        let link = links.join(hash.encode(HashFormat::Nix32));
        if let Ok(st_link) = std::fs::symlink_metadata(&link) {
            if st_link.size() != st.size() {
                (m.warning)(&format!("removing corrupted link '{}'", link.display()));
                (m.warning)("There may be more corrupted paths.\nYou should run `nix-store --verify --check-contents --repair` to fix them all");
                let _ = std::fs::remove_file(&link);
            }
        }
        if std::fs::symlink_metadata(&link).is_err() {
            match std::fs::hard_link(path, &link) {
                Ok(()) => {
                    inodes.insert(st.ino());
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                    (m.info)(&format!(
                        "cannot link '{}' to '{}': {}",
                        link.display(),
                        path.display(),
                        crate::os_error::message(&e)
                    ));
                    return Ok(());
                }
                Err(e) => {
                    return Err(io_err(format!(
                        "cannot link '{}' to '{}'",
                        link.display(),
                        path.display()
                    ))(e))
                }
            }
        }
        let st_link = std::fs::symlink_metadata(&link)
            .map_err(io_err(format!("getting status of '{}'", link.display())))?;
        if st_link.ino() == st.ino() {
            return Ok(());
        }
        (m.talk)(&format!(
            "linking '{}' to '{}'",
            path.display(),
            link.display()
        ));
        let dir = path.parent().unwrap_or(Path::new("/")).to_owned();
        let toggle = dir != self.real_store;
        if toggle {
            let mode = std::fs::symlink_metadata(&dir)
                .map_err(io_err(format!("getting status of '{}'", dir.display())))?
                .mode();
            std::fs::set_permissions(
                &dir,
                std::fs::Permissions::from_mode((mode | 0o200) & 0o7777),
            )
            .map_err(io_err(format!(
                "changing writability of '{}'",
                dir.display()
            )))?;
        }
        let r = self.replace_with_link(path, &link, st, stats, m);
        if toggle {
            make_read_only(&dir)?;
        }
        r
    }

    fn replace_with_link(
        &self,
        path: &Path,
        link: &Path,
        st: &std::fs::Metadata,
        stats: &mut OptimiseStats,
        m: &Messages<'_>,
    ) -> Result<(), StoreError> {
        let temp: PathBuf =
            self.real_store
                .join(format!(".tmp-link-{}-{}", std::process::id(), random()));
        if let Err(e) = std::fs::hard_link(link, &temp) {
            if e.raw_os_error() == Some(libc::EMLINK) {
                // Too many links to one file (empty files, mostly).
                if st.size() != 0 {
                    (m.info)(&format!("'{}' has maximum number of links", link.display()));
                }
                return Ok(());
            }
            return Err(io_err(format!(
                "cannot link '{}' to '{}'",
                temp.display(),
                link.display()
            ))(e));
        }
        if let Err(e) = std::fs::rename(&temp, path) {
            let _ = std::fs::remove_file(&temp);
            if e.raw_os_error() == Some(libc::EMLINK) {
                return Ok(());
            }
            return Err(io_err(format!(
                "cannot rename '{}' to '{}'",
                temp.display(),
                path.display()
            ))(e));
        }
        stats.files_linked += 1;
        stats.bytes_freed += st.size();
        Ok(())
    }
}

/// Read-only again, modification time 1 (Nix's canonical metadata).
fn make_read_only(path: &Path) -> Result<(), StoreError> {
    let st = std::fs::symlink_metadata(path)
        .map_err(io_err(format!("getting status of '{}'", path.display())))?;
    if !st.file_type().is_symlink() {
        let mode = st.mode() & 0o7777;
        if mode != 0o444 && mode != 0o555 {
            let new = 0o444 | if st.mode() & 0o100 != 0 { 0o111 } else { 0 };
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(new))
                .map_err(io_err(format!("changing mode of '{}'", path.display())))?;
        }
    }
    set_mtime_one(path)
}

/// A number for temporary names.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() >> 33
}
