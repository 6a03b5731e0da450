//! Garbage collection: deleting store paths (all dead ones, as
//! `nix-store --gc`, or given ones, as `nix-store --delete`) and then the
//! castore objects (blobs and directories) no remaining path needs.
//!
//! # Safety against adds running at the same time
//!
//! A path is added in steps: its blobs, then its directories, then its
//! path info. A collection must never remove an object an add under way
//! has written (or found stored and means to use) but not yet named in a
//! path info. Three rules make that so:
//!
//! 1. **Between processes** a sled store is used by one process at a time
//!    (the lock on `<dir>/lock`, see [`super::Store::open`]); others wait
//!    for it or use the store through the holder's `daemon.sock`, so their
//!    writes are RPCs to the holder and fall under the next two rules.
//!    The process collecting holds the store's lock: no other process
//!    writes during the collection.
//! 2. **Within a process**, [`crate::castore::CollectLock`]: writers hold
//!    it shared (an add from its first blob to its path info; the daemon's
//!    RPCs each for one blob, one closure of directories, or one path info
//!    whose whole tree it checks first), the collector exclusively from
//!    before it lists the path infos until its sweep is done. So no write
//!    falls between the collector's marking and its sweeping, and an add
//!    in this process is never split by a collection.
//! 3. **Grace** ([`GcOptions::grace`]), for the daemon's clients, whose add
//!    spans several RPCs that rule 2 cannot hold together: every write of
//!    a blob or directory, also one finding it stored already, records its
//!    time; objects written less than the grace period before the
//!    collection started are kept, and so is everything a kept directory
//!    refers to. An add slower than the grace period can lose objects; its
//!    path info is then refused (the daemon checks the whole tree under the
//!    lock), so the add fails with an error, and never makes a path valid
//!    whose tree is incomplete.
//!
//! The command line collects with no grace period: it holds the store's
//! lock (rule 1) and runs nothing else meanwhile, so nothing is in
//! flight. A process serving the store (a daemon) that collects uses
//! [`DEFAULT_GRACE`].
//!
//! # Order and crash safety
//!
//! Path infos are deleted in one batch for a set closed under referrers,
//! so no valid path ever refers to a deleted one; then directories (one
//! batch), then blobs. A collection killed part way leaves only garbage
//! that the next one removes.
//!
//! # Bytes freed
//!
//! Reported as the sizes of the blobs removed (what the castore really
//! frees; directories, held in the database, count nothing). C++ Nix
//! counts the sizes of the regular files and symlinks it unlinks, so a
//! file shared with a path that stays, a symlink, or a second copy of a
//! file counts there and not here, and a blob left over by an interrupted
//! add counts here only.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use super::{PathInfo, Store, StoreError};
use crate::castore::{B3Digest, CastoreError, Node, Stored};
use crate::store_path::StorePath;

/// The grace period a process serving a store collects with (see the
/// module documentation): longer than any add of a client should take.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// How to collect.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Stop deleting dead paths once the blobs they alone held add up to
    /// this many bytes (`u64::MAX`: no limit; 0: delete no path).
    pub max_freed: u64,
    /// Castore objects written less than this long before the collection
    /// started are kept.
    pub grace: Duration,
    /// C++ Nix's settings: a live output keeps its derivation alive
    /// (`keep-derivations`), a live derivation its outputs
    /// (`keep-outputs`). Used for the paths `--delete` is given; for a
    /// collection of dead paths, the caller's live set includes them.
    pub keep_derivations: bool,
    pub keep_outputs: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            max_freed: u64::MAX,
            grace: DEFAULT_GRACE,
            keep_derivations: true,
            keep_outputs: false,
        }
    }
}

/// What to delete.
#[derive(Debug, Clone)]
pub enum Target {
    /// Every valid path not live.
    Dead,
    /// These paths (in store path order), each with the paths that keep it
    /// alive if they are all among them and none is live; a path that is
    /// still alive stops the deletion there, as C++ Nix's `--delete`.
    Paths(BTreeSet<StorePath>),
}

/// What the collector is doing, for messages.
#[derive(Debug)]
pub enum Event<'a> {
    /// About to delete this path.
    Deleting(&'a StorePath),
    /// `max_freed` (this many bytes) reached; no more paths are deleted.
    Stopping(u64),
}

/// What a collection did.
#[derive(Debug, Default)]
pub struct GcReport {
    /// The paths deleted, in the order deleted (for [`Target::Paths`]
    /// also the invalid ones given, as C++ Nix counts them).
    pub deleted: Vec<StorePath>,
    /// Bytes of the blobs removed.
    pub bytes_freed: u64,
    pub blobs_removed: usize,
    pub directories_removed: usize,
    /// Bytes the castore saves among the remaining paths by keeping each
    /// file content once (C++ Nix's "hard linking saves").
    pub sharing_saves: u64,
    /// For [`Target::Paths`]: the path found alive, which stopped the
    /// deletion (the paths before it are deleted, and the castore swept).
    pub still_alive: Option<StorePath>,
}

/// Collects garbage in `store`: deletes what `target` says (with `live`,
/// computed under the lock, the paths that must stay), then the castore
/// objects no remaining path reaches. See the module documentation for
/// why this is safe while other threads add paths.
pub fn collect<E: From<StoreError>>(
    store: &Store,
    target: &Target,
    opts: &GcOptions,
    live: impl FnOnce(&Store) -> Result<BTreeSet<StorePath>, E>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<GcReport, E> {
    let _collecting = store.collect_lock.collecting();
    let started = SystemTime::now();
    // Listed first: a castore that cannot list (one behind a daemon) fails
    // the collection before anything is deleted. Nothing is written while
    // the lock is held, so the lists stay true.
    let stored = StoredObjects {
        dirs: store.directories.list().map_err(StoreError::from)?,
        blobs: store.blobs.list().map_err(StoreError::from)?,
    };
    let live = live(store)?;
    let infos: BTreeMap<StorePath, PathInfo> = store
        .path_infos
        .list()?
        .into_iter()
        .map(|i| (i.store_path.clone(), i))
        .collect();
    let mut report = GcReport::default();
    let mut marks = Marks::default();
    let deleting: Vec<StorePath> = match target {
        Target::Dead => {
            let dead: BTreeSet<StorePath> = infos
                .keys()
                .filter(|p| !live.contains(*p))
                .cloned()
                .collect();
            for (p, info) in &infos {
                if !dead.contains(p) {
                    marks.mark(store, &info.node)?;
                }
            }
            let order = referrers_first(&dead, &infos);
            let chosen = choose_dead(store, &order, &infos, &marks, opts, on_event)?;
            for p in order.iter().skip(chosen.len()) {
                if let Some(info) = infos.get(p) {
                    marks.mark(store, &info.node)?;
                }
            }
            report.deleted = chosen.clone();
            chosen
        }
        Target::Paths(paths) => {
            let (deleted, alive) = choose_specific(paths, &infos, &live, opts, on_event);
            report.still_alive = alive;
            report.deleted = deleted;
            let gone: HashSet<&StorePath> = report.deleted.iter().collect();
            for (p, info) in &infos {
                if !gone.contains(p) {
                    marks.mark(store, &info.node)?;
                }
            }
            report
                .deleted
                .iter()
                .filter(|p| infos.contains_key(*p))
                .cloned()
                .collect()
        }
    };
    if !deleting.is_empty() {
        store.path_infos.delete_many(&deleting)?;
    }
    report.sharing_saves = marks.sharing_saves(&infos, &report.deleted);
    sweep(store, stored, &mut marks, opts, started, &mut report)?;
    Ok(report)
}

/// The dead paths to delete, in `order` (referrers first), as far as
/// `max_freed` allows.
fn choose_dead(
    store: &Store,
    order: &[StorePath],
    infos: &BTreeMap<StorePath, PathInfo>,
    live_marks: &Marks,
    opts: &GcOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Vec<StorePath>, StoreError> {
    if opts.max_freed == 0 {
        return Ok(Vec::new());
    }
    if opts.max_freed == u64::MAX {
        for p in order {
            on_event(Event::Deleting(p));
        }
        return Ok(order.to_vec());
    }
    // Which dead paths hold each blob no live path holds: a blob is freed
    // with the last of them.
    let mut per_path: Vec<Vec<(B3Digest, u64)>> = Vec::with_capacity(order.len());
    let mut holders: HashMap<B3Digest, usize> = HashMap::new();
    for p in order {
        let mut blobs = match infos.get(p) {
            Some(info) => tree_blobs(store, &info.node)?,
            None => Vec::new(),
        };
        blobs.retain(|(d, _)| !live_marks.blobs.contains_key(d));
        for (d, _) in &blobs {
            *holders.entry(*d).or_default() += 1;
        }
        per_path.push(blobs);
    }
    let mut freed = 0u64;
    let mut chosen = Vec::new();
    for (p, blobs) in order.iter().zip(&per_path) {
        on_event(Event::Deleting(p));
        chosen.push(p.clone());
        for (d, size) in blobs {
            if let Some(n) = holders.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    freed = freed.saturating_add(*size);
                }
            }
        }
        if freed >= opts.max_freed {
            on_event(Event::Stopping(opts.max_freed));
            break;
        }
    }
    Ok(chosen)
}

/// `--delete`: the given paths in order, each with the paths keeping it
/// alive (referrers, and per the settings outputs or derivations) when all
/// of them are given and not live. Returns the paths deleted (invalid ones
/// given included) and the first path found alive.
fn choose_specific(
    paths: &BTreeSet<StorePath>,
    infos: &BTreeMap<StorePath, PathInfo>,
    live: &BTreeSet<StorePath>,
    opts: &GcOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> (Vec<StorePath>, Option<StorePath>) {
    let mut referrers: HashMap<&StorePath, Vec<&StorePath>> = HashMap::new();
    let mut outputs: HashMap<&StorePath, Vec<&StorePath>> = HashMap::new();
    for (p, info) in infos {
        for r in &info.references {
            if r != p {
                referrers.entry(r).or_default().push(p);
            }
        }
        if let Some(d) = &info.deriver {
            outputs.entry(d).or_default().push(p);
        }
    }
    let mut deleted: Vec<StorePath> = Vec::new();
    let mut done: HashSet<StorePath> = HashSet::new();
    for p in paths {
        if done.contains(p) {
            continue;
        }
        if !infos.contains_key(p) {
            on_event(Event::Deleting(p));
            done.insert(p.clone());
            deleted.push(p.clone());
            continue;
        }
        // The paths keeping `p` alive, transitively.
        let mut closure: BTreeSet<StorePath> = BTreeSet::from([p.clone()]);
        let mut work = vec![p];
        let mut alive = false;
        while let Some(q) = work.pop() {
            if live.contains(q) || !paths.contains(q) {
                alive = true;
                break;
            }
            let mut keepers: Vec<&StorePath> = referrers.get(q).cloned().unwrap_or_default();
            if opts.keep_derivations && q.name().ends_with(".drv") {
                keepers.extend(outputs.get(q).into_iter().flatten().copied());
            }
            if opts.keep_outputs {
                if let Some(d) = infos.get(q).and_then(|i| i.deriver.as_ref()) {
                    if let Some((d, _)) = infos.get_key_value(d) {
                        keepers.push(d);
                    }
                }
            }
            for k in keepers {
                if !done.contains(k) && closure.insert(k.clone()) {
                    work.push(k);
                }
            }
        }
        if alive {
            return (deleted, Some(p.clone()));
        }
        for q in referrers_first(&closure, infos) {
            on_event(Event::Deleting(&q));
            done.insert(q.clone());
            deleted.push(q);
        }
    }
    (deleted, None)
}

/// `paths` ordered so that each comes before the paths of `paths` it refers
/// to; unrelated paths in store path order.
fn referrers_first(
    paths: &BTreeSet<StorePath>,
    infos: &BTreeMap<StorePath, PathInfo>,
) -> Vec<StorePath> {
    // Depth-first post-order over references gives references first.
    let mut out: Vec<StorePath> = Vec::with_capacity(paths.len());
    let mut visited: HashSet<&StorePath> = HashSet::new();
    let refs_of = |p: &StorePath| -> Vec<&StorePath> {
        let mut v: Vec<&StorePath> = infos
            .get(p)
            .map(|i| {
                i.references
                    .iter()
                    .filter(|r| *r != p)
                    .filter_map(|r| paths.get(r))
                    .collect()
            })
            .unwrap_or_default();
        v.reverse();
        v
    };
    for start in paths.iter().rev() {
        if !visited.insert(start) {
            continue;
        }
        let mut stack: Vec<(&StorePath, Vec<&StorePath>)> = vec![(start, refs_of(start))];
        while let Some((p, kids)) = stack.last_mut() {
            match kids.pop() {
                Some(k) => {
                    if visited.insert(k) {
                        let c = refs_of(k);
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
    out.reverse();
    out
}

/// The blobs of the tree of `node`, each once, with their sizes.
fn tree_blobs(store: &Store, node: &Node) -> Result<Vec<(B3Digest, u64)>, StoreError> {
    let mut out = Vec::new();
    match node {
        Node::File { digest, size, .. } => out.push((*digest, *size)),
        Node::Directory { digest, .. } => {
            for dir in store.directories.get_recursive(digest)? {
                for f in &dir.files {
                    if let Some(d) = B3Digest::from_slice(&f.digest) {
                        out.push((d, f.size));
                    }
                }
            }
        }
        Node::Symlink { .. } => {}
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

/// The castore objects found reachable.
#[derive(Default)]
struct Marks {
    /// Directory -> bytes of its own files and its subdirectories (for
    /// [`Marks::sharing_saves`]).
    dirs: HashMap<B3Digest, (u64, Vec<B3Digest>)>,
    /// Blob -> size.
    blobs: HashMap<B3Digest, u64>,
}

impl Marks {
    /// Marks the tree of `node`. A directory that is not stored (a damaged
    /// path, which `--verify` reports; or the write time of a directory
    /// whose write was cut short) is passed over.
    fn mark(&mut self, store: &Store, node: &Node) -> Result<(), StoreError> {
        let root = match node {
            Node::File { digest, size, .. } => {
                self.blobs.insert(*digest, *size);
                return Ok(());
            }
            Node::Symlink { .. } => return Ok(()),
            Node::Directory { digest, .. } => *digest,
        };
        let mut work = vec![root];
        while let Some(d) = work.pop() {
            if self.dirs.contains_key(&d) {
                continue;
            }
            let Some(dir) = store.directories.get(&d)? else {
                continue;
            };
            let mut own = 0u64;
            for f in &dir.files {
                let digest = B3Digest::from_slice(&f.digest).ok_or_else(|| {
                    CastoreError::CorruptDirectory(d, "file digest of wrong length".into())
                })?;
                self.blobs.insert(digest, f.size);
                own = own.saturating_add(f.size);
            }
            let mut children = Vec::with_capacity(dir.directories.len());
            for c in &dir.directories {
                let digest = B3Digest::from_slice(&c.digest).ok_or_else(|| {
                    CastoreError::CorruptDirectory(d, "directory digest of wrong length".into())
                })?;
                children.push(digest);
                if !self.dirs.contains_key(&digest) {
                    work.push(digest);
                }
            }
            self.dirs.insert(d, (own, children));
        }
        Ok(())
    }

    /// The bytes of the files of the paths that stay, every copy counted,
    /// less the bytes of their blobs, each counted once.
    fn sharing_saves(&self, infos: &BTreeMap<StorePath, PathInfo>, deleted: &[StorePath]) -> u64 {
        let gone: HashSet<&StorePath> = deleted.iter().collect();
        let mut memo: HashMap<B3Digest, u64> = HashMap::new();
        let mut total = 0u64;
        for (p, info) in infos {
            if gone.contains(p) {
                continue;
            }
            match &info.node {
                Node::File { size, .. } => total = total.saturating_add(*size),
                Node::Directory { digest, .. } => {
                    total = total.saturating_add(self.dir_bytes(*digest, &mut memo));
                }
                Node::Symlink { .. } => {}
            }
        }
        // Until the sweep, exactly the blobs of the paths that stay are
        // marked.
        total.saturating_sub(self.blobs.values().sum())
    }

    /// The bytes of every file below `root`, every copy counted.
    fn dir_bytes(&self, root: B3Digest, memo: &mut HashMap<B3Digest, u64>) -> u64 {
        // Post-order with an explicit stack.
        let mut stack = vec![(root, false)];
        while let Some((d, expanded)) = stack.pop() {
            if memo.contains_key(&d) {
                continue;
            }
            let Some((own, children)) = self.dirs.get(&d) else {
                memo.insert(d, 0);
                continue;
            };
            if expanded {
                let sum = children.iter().fold(*own, |acc, c| {
                    acc.saturating_add(memo.get(c).copied().unwrap_or(0))
                });
                memo.insert(d, sum);
            } else {
                stack.push((d, true));
                stack.extend(
                    children
                        .iter()
                        .filter(|c| !memo.contains_key(*c))
                        .map(|c| (*c, false)),
                );
            }
        }
        memo.get(&root).copied().unwrap_or(0)
    }
}

/// The castore's objects when the collection started.
struct StoredObjects {
    dirs: Vec<Stored>,
    blobs: Vec<Stored>,
}

/// Removes the castore objects neither marked nor written within the grace
/// period (nor reachable from a directory written within it).
fn sweep(
    store: &Store,
    stored: StoredObjects,
    marks: &mut Marks,
    opts: &GcOptions,
    started: SystemTime,
    report: &mut GcReport,
) -> Result<(), StoreError> {
    let cutoff = (!opts.grace.is_zero()).then(|| {
        started
            .checked_sub(opts.grace)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    });
    let recent = |t: SystemTime| cutoff.is_some_and(|c| t >= c);
    let dirs = stored.dirs;
    for d in &dirs {
        if recent(d.written) {
            marks.mark(
                store,
                &Node::Directory {
                    digest: d.digest,
                    size: 0,
                },
            )?;
        }
    }
    let dead_dirs: Vec<B3Digest> = dirs
        .iter()
        .filter(|d| !marks.dirs.contains_key(&d.digest) && !recent(d.written))
        .map(|d| d.digest)
        .collect();
    if !dead_dirs.is_empty() {
        store.directories.delete_many(&dead_dirs)?;
    }
    report.directories_removed = dead_dirs.len();
    for b in stored.blobs {
        if marks.blobs.contains_key(&b.digest) || recent(b.written) {
            continue;
        }
        if store.blobs.delete(&b.digest)? {
            report.bytes_freed = report.bytes_freed.saturating_add(b.size);
            report.blobs_removed += 1;
        }
    }
    Ok(())
}
