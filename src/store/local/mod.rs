//! C++ Nix's local store, shared with an installed Nix: the paths are
//! files under the (real) store directory, their metadata rows of the
//! SQLite database `<state>/db/db.sqlite` in schema version 10 as Nix 2.8
//! writes it (`ValidPaths`, `Refs`, `DerivationOutputs`). A path is
//! written under its lock and registered, with its references, in one
//! transaction once its files are complete; the big lock, path locks and
//! temporary roots are C++ Nix's ([`locks`]), so C++ Nix and oxnix may use
//! the store at the same time.

pub mod gc;
pub mod locks;
pub mod maintain;

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{now, StoreError};
use crate::derivation::Derivation;
use crate::hash::{Hash, HashAlgo, HashFormat, Hasher};
use crate::store_path::{IngestionMethod, StoreDir, StorePath};
use locks::{PathLock, TempRoots};

/// The schema version oxnix reads and writes (C++ Nix 2.8's).
pub const SCHEMA_VERSION: u32 = 10;

const SCHEMA: &str = r#"
create table if not exists ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer,
    ultimate         integer, -- null implies "false"
    sigs             text, -- space-separated
    ca               text -- if not null, an assertion that the path is content-addressed; see ValidPathInfo
);

create table if not exists Refs (
    referrer  integer not null,
    reference integer not null,
    primary key (referrer, reference),
    foreign key (referrer) references ValidPaths(id) on delete cascade,
    foreign key (reference) references ValidPaths(id) on delete restrict
);

create index if not exists IndexReferrer on Refs(referrer);
create index if not exists IndexReference on Refs(reference);

create trigger if not exists DeleteSelfRefs before delete on ValidPaths
  begin
    delete from Refs where referrer = old.id and reference = old.id;
  end;

create table if not exists DerivationOutputs (
    drv  integer not null,
    id   text not null, -- symbolic output id, usually "out"
    path text not null,
    primary key (drv, id),
    foreign key (drv) references ValidPaths(id) on delete cascade
);

create index if not exists IndexDerivationOutputs on DerivationOutputs(path);
"#;

/// A valid path's row of `ValidPaths` and its references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPathInfo {
    pub path: StorePath,
    pub nar_hash: Hash,
    pub nar_size: u64,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    /// Seconds since the epoch.
    pub registration_time: u64,
    pub ultimate: bool,
    pub signatures: Vec<String>,
    /// As C++ Nix writes it: `fixed:r:sha256:<nix32>`, `text:sha256:…`.
    pub ca: Option<String>,
}

/// Where a local store is: the store directory paths are named in, and on
/// disk the state directory (`/nix/var/nix`) and the real store directory.
/// A "chroot store" (`local?root=DIR`) keeps both under DIR, at
/// `DIR/nix/var/nix` and `DIR/nix/store` whatever the store directory's
/// name, as C++ Nix 2.8 places them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    pub store_dir: StoreDir,
    pub state_dir: PathBuf,
    pub real_store_dir: PathBuf,
    /// The root of a chroot store.
    pub root: Option<PathBuf>,
    /// Where C++ Nix keeps the build logs of this store's derivations
    /// (`drvs/XX/REST[.bz2]`): `$NIX_LOG_DIR`, else `/nix/var/log/nix`;
    /// `ROOT/nix/var/log/nix` for a chroot store; `?log=DIR`.
    pub log_dir: PathBuf,
}

impl LocalConfig {
    /// The store at its own place: files in the store directory itself.
    pub fn new(store_dir: StoreDir, state_dir: PathBuf) -> LocalConfig {
        LocalConfig {
            real_store_dir: PathBuf::from(store_dir.as_str()),
            store_dir,
            state_dir,
            root: None,
            log_dir: PathBuf::from(DEFAULT_LOG_DIR),
        }
    }

    /// A chroot store under `root`.
    pub fn chroot(store_dir: StoreDir, root: PathBuf) -> LocalConfig {
        LocalConfig {
            store_dir,
            state_dir: root.join("nix/var/nix"),
            real_store_dir: root.join("nix/store"),
            log_dir: root.join("nix/var/log/nix"),
            root: Some(root),
        }
    }
}

/// C++ Nix's default log directory.
pub const DEFAULT_LOG_DIR: &str = "/nix/var/log/nix";

/// C++ Nix's local store.
pub struct LocalStore {
    pub config: LocalConfig,
    pub store_dir: StoreDir,
    real_store: PathBuf,
    state_dir: PathBuf,
    db: Mutex<Connection>,
    temp_roots: Mutex<TempRoots>,
    _big_lock: std::fs::File,
}

fn sql(context: &str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Sqlite {
        context: context.to_owned(),
        message: e.to_string(),
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

impl LocalStore {
    /// Opens (creating if needed) the local store of `config`.
    pub fn open(config: LocalConfig) -> Result<LocalStore, StoreError> {
        let store_dir = config.store_dir.clone();
        let real_store = config.real_store_dir.clone();
        let state_dir = config.state_dir.clone();
        let db_dir = state_dir.join("db");
        for d in [
            &real_store,
            &real_store.join(".links"),
            &db_dir,
            &state_dir.join("temproots"),
            &state_dir.join("gcroots"),
        ] {
            std::fs::create_dir_all(d).map_err(io_err(format!("creating '{}'", d.display())))?;
        }
        let big_lock = locks::big_lock(&db_dir)?;
        let schema_file = db_dir.join("schema");
        let current = match std::fs::read_to_string(&schema_file) {
            Ok(s) => Some(s.trim().parse::<u32>().map_err(|_| {
                StoreError::Local(format!("'{}' is corrupt", schema_file.display()))
            })?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(format!("reading '{}'", schema_file.display()))(e)),
        };
        if let Some(v) = current {
            if v > SCHEMA_VERSION {
                return Err(StoreError::Local(format!(
                    "current Nix store schema is version {v}, but I only support {SCHEMA_VERSION}"
                )));
            }
            if v < SCHEMA_VERSION {
                return Err(StoreError::Local(format!(
                    "not supported yet: upgrading the Nix store schema from version {v} (oxnix reads version {SCHEMA_VERSION}; let C++ Nix upgrade it first)"
                )));
            }
        }
        let db_path = db_dir.join("db.sqlite");
        let db = Connection::open(&db_path).map_err(sql("opening the Nix database"))?;
        db.busy_timeout(std::time::Duration::from_secs(3600))
            .map_err(sql("setting the database timeout"))?;
        if current.is_none() {
            db.execute_batch("pragma main.page_size = 4096;")
                .map_err(sql("setting the page size"))?;
        }
        db.execute_batch("pragma foreign_keys = 1; pragma synchronous = normal;")
            .map_err(sql("setting up the Nix database"))?;
        let mode: String = db
            .query_row("pragma main.journal_mode = wal", [], |r| r.get(0))
            .map_err(sql("setting the journal mode"))?;
        if mode != "wal" {
            return Err(StoreError::Local(format!(
                "the Nix database stays in journal mode '{mode}'"
            )));
        }
        if current.is_none() {
            db.execute_batch(SCHEMA)
                .map_err(sql("creating the Nix database"))?;
            write_file_atomically(&schema_file, SCHEMA_VERSION.to_string().as_bytes(), 0o644)?;
        }
        Ok(LocalStore {
            store_dir,
            real_store,
            temp_roots: Mutex::new(TempRoots::new(&state_dir)),
            state_dir,
            config,
            db: Mutex::new(db),
            _big_lock: big_lock,
        })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The absolute form of `path`.
    pub fn print(&self, path: &StorePath) -> String {
        self.store_dir.print(path)
    }

    /// Where `path` is on disk.
    pub fn real_path(&self, path: &StorePath) -> PathBuf {
        self.real_store.join(path.base_name())
    }

    /// The state directory on disk (`gcroots`, `temproots`, `db`).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn is_valid(&self, path: &StorePath) -> Result<bool, StoreError> {
        let db = self.db();
        let id: Option<i64> = db
            .query_row(
                "select id from ValidPaths where path = ?1",
                params![self.print(path)],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("querying path validity"))?;
        Ok(id.is_some())
    }

    /// The metadata of a valid path.
    pub fn query(&self, path: &StorePath) -> Result<ValidPathInfo, StoreError> {
        self.query_opt(path)?
            .ok_or_else(|| StoreError::NotValid(self.print(path)))
    }

    /// The metadata of `path`, or `None` when it is not valid.
    pub fn query_opt(&self, path: &StorePath) -> Result<Option<ValidPathInfo>, StoreError> {
        let db = self.db();
        type Row = (
            i64,
            String,
            i64,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = db
            .query_row(
                "select id, hash, registrationTime, deriver, narSize, ultimate, sigs, ca from ValidPaths where path = ?1",
                params![self.print(path)],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                },
            )
            .optional()
            .map_err(sql("querying path info"))?;
        let Some((id, hash, time, deriver, size, ultimate, sigs, ca)) = row else {
            return Ok(None);
        };
        let corrupt = |what: &str| {
            StoreError::Local(format!(
                "the Nix database has an invalid {what} for '{}'",
                self.print(path)
            ))
        };
        let nar_hash = Hash::parse_any(&hash, None).map_err(|_| corrupt("hash"))?;
        let deriver = match deriver.filter(|d| !d.is_empty()) {
            Some(d) => Some(
                self.store_dir
                    .parse_path(&d)
                    .map_err(|_| corrupt("deriver"))?,
            ),
            None => None,
        };
        let mut stmt = db
            .prepare_cached(
                "select path from Refs join ValidPaths on reference = id where referrer = ?1",
            )
            .map_err(sql("querying references"))?;
        let refs = stmt
            .query_map(params![id], |r| r.get::<_, String>(0))
            .map_err(sql("querying references"))?;
        let mut references = BTreeSet::new();
        for r in refs {
            let r = r.map_err(sql("querying references"))?;
            references.insert(
                self.store_dir
                    .parse_path(&r)
                    .map_err(|_| corrupt("reference"))?,
            );
        }
        Ok(Some(ValidPathInfo {
            path: path.clone(),
            nar_hash,
            nar_size: size.map_or(0, |s| s.max(0) as u64),
            references,
            deriver,
            registration_time: time.max(0) as u64,
            ultimate: ultimate.unwrap_or(0) != 0,
            signatures: sigs
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            ca: ca.filter(|c| !c.is_empty()),
        }))
    }

    /// The valid paths that refer to `path`.
    pub fn referrers(&self, path: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        self.paths_of(
            "select path from Refs join ValidPaths on referrer = id where reference = (select id from ValidPaths where path = ?1)",
            &self.print(path),
        )
    }

    /// The derivations (valid `.drv` paths) that have `path` as an output.
    pub fn valid_derivers(&self, path: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        self.paths_of(
            "select v.path from DerivationOutputs d join ValidPaths v on d.drv = v.id where d.path = ?1",
            &self.print(path),
        )
    }

    /// Every valid path.
    pub fn valid_paths(&self) -> Result<BTreeSet<StorePath>, StoreError> {
        let db = self.db();
        let mut stmt = db
            .prepare("select path from ValidPaths")
            .map_err(sql("listing valid paths"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(sql("listing valid paths"))?;
        let mut out = BTreeSet::new();
        for r in rows {
            let r = r.map_err(sql("listing valid paths"))?;
            if let Ok(p) = self.store_dir.parse_path(&r) {
                out.insert(p);
            }
        }
        Ok(out)
    }

    fn paths_of(&self, query: &str, arg: &str) -> Result<BTreeSet<StorePath>, StoreError> {
        let db = self.db();
        let mut stmt = db.prepare_cached(query).map_err(sql("querying paths"))?;
        let rows = stmt
            .query_map(params![arg], |r| r.get::<_, String>(0))
            .map_err(sql("querying paths"))?;
        let mut out = BTreeSet::new();
        for r in rows {
            let r = r.map_err(sql("querying paths"))?;
            if let Ok(p) = self.store_dir.parse_path(&r) {
                out.insert(p);
            }
        }
        Ok(out)
    }

    /// Writes the NAR of a valid path to `out`.
    pub fn nar<W: Write>(&self, path: &StorePath, out: W) -> Result<W, StoreError> {
        if !self.is_valid(path)? {
            return Err(StoreError::NotValid(self.print(path)));
        }
        Ok(crate::nar::fs::dump_path(&self.real_path(path), out)?)
    }

    /// Registers `infos` (whose files are complete) in one transaction:
    /// rows, derivation outputs, then references (which must be valid or
    /// among `infos`).
    fn register(&self, infos: &[ValidPathInfo]) -> Result<(), StoreError> {
        if infos.is_empty() {
            return Ok(());
        }
        let mut db = self.db();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("starting a transaction"))?;
        for info in infos {
            let printed = self.print(&info.path);
            let exists: Option<i64> = tx
                .query_row(
                    "select id from ValidPaths where path = ?1",
                    params![printed],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql("registering a path"))?;
            let sigs = (!info.signatures.is_empty()).then(|| info.signatures.join(" "));
            let deriver = info.deriver.as_ref().map(|d| self.print(d));
            let hash = info.nar_hash.to_string_with(HashFormat::Base16);
            if exists.is_some() {
                tx.execute(
                    "update ValidPaths set narSize = ?1, hash = ?2, ultimate = ?3, sigs = ?4, ca = ?5 where path = ?6",
                    params![info.nar_size as i64, hash, info.ultimate.then_some(1), sigs, info.ca, printed],
                )
                .map_err(sql("updating a path"))?;
                continue;
            }
            tx.execute(
                "insert into ValidPaths (path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    printed,
                    hash,
                    info.registration_time as i64,
                    deriver,
                    info.nar_size as i64,
                    info.ultimate.then_some(1),
                    sigs,
                    info.ca
                ],
            )
            .map_err(sql("registering a path"))?;
            let id = tx.last_insert_rowid();
            if info.path.name().ends_with(".drv") {
                let text = std::fs::read(self.real_path(&info.path))
                    .map_err(io_err(format!("reading '{printed}'")))?;
                let drv = Derivation::from_aterm(&text, &self.store_dir).map_err(|e| {
                    StoreError::Local(format!("error parsing derivation '{printed}': {e}"))
                })?;
                for (name, out) in &drv.outputs {
                    if let Some(p) = &out.path {
                        tx.execute(
                            "insert or replace into DerivationOutputs (drv, id, path) values (?1, ?2, ?3)",
                            params![id, name, self.print(p)],
                        )
                        .map_err(sql("registering derivation outputs"))?;
                    }
                }
            }
        }
        for info in infos {
            for r in &info.references {
                let n = tx
                    .execute(
                        "insert or replace into Refs (referrer, reference) select a.id, b.id from ValidPaths a, ValidPaths b where a.path = ?1 and b.path = ?2",
                        params![self.print(&info.path), self.print(r)],
                    )
                    .map_err(sql("registering references"))?;
                if n == 0 {
                    return Err(StoreError::NotValid(self.print(r)));
                }
            }
        }
        tx.commit().map_err(sql("committing a transaction"))
    }

    /// Registers `infos` (whose files are in place) as valid, in one
    /// transaction; a valid path's row is updated (`--load-db`,
    /// `--register-validity`).
    pub fn register_valid_paths(&self, infos: &[ValidPathInfo]) -> Result<(), StoreError> {
        self.register(infos)
    }

    /// Writes a path under its lock unless it is valid: `fill` makes the
    /// files at the real path (which holds nothing then), `info` says what
    /// to register. Answers whether this call added the path.
    fn add_under_lock(
        &self,
        path: &StorePath,
        fill: impl FnOnce(&Path) -> Result<ValidPathInfo, StoreError>,
    ) -> Result<bool, StoreError> {
        let printed = self.print(path);
        self.temp_roots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(&printed)?;
        if self.is_valid(path)? {
            return Ok(false);
        }
        let real = self.real_path(path);
        let _lock = PathLock::acquire(&real)?;
        if self.is_valid(path)? {
            return Ok(false);
        }
        // Whatever an interrupted add left there is not valid: replace it.
        delete_path(&real)?;
        let info = match fill(&real) {
            Ok(info) => info,
            Err(e) => {
                let _ = delete_path(&real);
                return Err(e);
            }
        };
        canonicalise(&real)?;
        self.register(std::slice::from_ref(&info))?;
        Ok(true)
    }

    /// Adds the tree serialised in `nar` at `path`, checking its NAR hash
    /// and size when `info` gives them (`nar_size` 0: not given).
    pub fn add_nar_reader(
        &self,
        info: ValidPathInfo,
        nar: &mut dyn Read,
    ) -> Result<bool, StoreError> {
        let path = info.path.clone();
        self.add_under_lock(&path, |real| restore_checked(nar, real, info))
            .map_err(|e| match e {
                StoreError::NarHashMismatch { expected, actual } => {
                    StoreError::ImportHashMismatch {
                        path: self.print(&path),
                        expected,
                        actual,
                    }
                }
                e => e,
            })
    }

    /// Adds the tree serialised in `nar` at the content-addressed `path`
    /// (`builtins.path`, `filterSource`).
    pub fn add_nar(&self, path: &StorePath, nar: &[u8], ca: &str) -> Result<(), StoreError> {
        let info = ValidPathInfo {
            path: path.clone(),
            nar_hash: Hash::of_bytes(HashAlgo::Sha256, nar),
            nar_size: nar.len() as u64,
            references: BTreeSet::new(),
            deriver: None,
            registration_time: now(),
            ultimate: false,
            signatures: Vec::new(),
            ca: Some(ca.to_owned()),
        };
        self.add_nar_reader(info, &mut &nar[..]).map(|_| ())
    }

    /// Adds the tree at `src` as a content-addressed path named `name`
    /// (`nix-store --add`, `--add-fixed`): hashed in one pass, then
    /// copied in a second pass checked against the first.
    pub fn add_path(
        &self,
        src: &Path,
        name: &str,
        method: IngestionMethod,
        algo: HashAlgo,
    ) -> Result<StorePath, StoreError> {
        crate::store_path::validate_name(name, name)?;
        let nar_hash = crate::nar::fs::dump_path(src, Hasher::new(HashAlgo::Sha256))?.finish();
        let content_hash = match method {
            IngestionMethod::Recursive if algo == HashAlgo::Sha256 => nar_hash,
            IngestionMethod::Recursive => {
                crate::nar::fs::dump_path(src, Hasher::new(algo))?.finish()
            }
            _ => {
                let meta = std::fs::symlink_metadata(src)
                    .map_err(io_err(format!("getting status of '{}'", src.display())))?;
                if meta.is_dir() {
                    return Err(StoreError::FlatDirectory);
                }
                if !meta.is_file() {
                    return Err(StoreError::FlatNotRegular);
                }
                let mut f = std::fs::File::open(src)
                    .map_err(io_err(format!("opening file '{}'", src.display())))?;
                Hash::of_reader(algo, &mut f)
                    .map_err(io_err(format!("reading file '{}'", src.display())))?
            }
        };
        let path = self.store_dir.fixed_output_path(
            name,
            method,
            &content_hash,
            &BTreeSet::new(),
            false,
        )?;
        let ca = format!(
            "fixed:{}{}",
            method.prefix(),
            content_hash.to_string_with(HashFormat::Nix32)
        );
        let info = ValidPathInfo {
            path: path.clone(),
            nar_hash,
            nar_size: 0,
            references: BTreeSet::new(),
            deriver: None,
            registration_time: now(),
            ultimate: false,
            signatures: Vec::new(),
            ca: Some(ca),
        };
        // A path already valid is not read again; else it is copied by
        // streaming a second dump through a pipe into the restore.
        self.add_under_lock(&path, |real| {
            let (mut reader, writer) = io::pipe().map_err(io_err("creating a pipe"))?;
            let src_owned = src.to_owned();
            // (The pipe's end is closed when the dump ends, so that the
            // reader below sees the end of it.)
            let dumper =
                std::thread::spawn(move || crate::nar::fs::dump_path(&src_owned, writer).map(drop));
            let filled = restore_checked(&mut reader, real, info);
            // Let the dumper finish if the restore stopped reading early:
            // its write to a closed pipe would end the process (SIGPIPE).
            let _ = io::copy(&mut reader, &mut io::sink());
            drop(reader);
            let dumped = dumper
                .join()
                .map_err(|_| StoreError::Local("the dumping thread panicked".into()))?;
            match (filled, dumped) {
                (Ok(info), _) => Ok(info),
                (Err(e), Ok(_)) => Err(e),
                (Err(StoreError::NarHashMismatch { .. }), Err(dump)) => Err(dump.into()),
                (Err(e), Err(_)) => Err(e),
            }
        })?;
        Ok(path)
    }

    /// Adds text files (`.drv` files, `toFile` results) with references
    /// (valid, or earlier in `texts`): each written under its lock, then
    /// all registered in one transaction.
    pub fn add_texts(
        &self,
        texts: &[(StorePath, Vec<u8>, BTreeSet<StorePath>)],
    ) -> Result<(), StoreError> {
        let mut infos = Vec::new();
        let mut locks = Vec::new();
        let mut batch = BTreeSet::new();
        for (path, contents, references) in texts {
            if batch.contains(path) {
                continue;
            }
            let printed = self.print(path);
            self.temp_roots
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add(&printed)?;
            if self.is_valid(path)? {
                continue;
            }
            let real = self.real_path(path);
            let lock = PathLock::acquire(&real)?;
            if self.is_valid(path)? {
                continue;
            }
            delete_path(&real)?;
            write_file_atomically(&real, contents, 0o444)?;
            set_mtime_one(&real)?;
            let mut w = crate::nar::writer::NarWriter::new(Hasher::new(HashAlgo::Sha256))
                .map_err(io_err("hashing a NAR"))?;
            w.regular_bytes(false, contents)
                .map_err(io_err("hashing a NAR"))?;
            let nar_hash = w.finish().map_err(io_err("hashing a NAR"))?.finish();
            infos.push(ValidPathInfo {
                path: path.clone(),
                nar_hash,
                nar_size: text_nar_size(contents.len()),
                references: references.clone(),
                deriver: None,
                registration_time: now(),
                ultimate: false,
                signatures: Vec::new(),
                ca: Some(format!(
                    "text:{}",
                    Hash::of_bytes(HashAlgo::Sha256, contents).to_string_with(HashFormat::Nix32)
                )),
            });
            locks.push(lock);
            batch.insert(path.clone());
        }
        let r = self.register(&infos);
        drop(locks);
        r
    }

    /// Deletes `paths` (rows and files). A path a valid path outside
    /// `paths` refers to is alive: nothing is deleted then.
    pub fn delete(&self, paths: &BTreeSet<StorePath>) -> Result<Vec<ValidPathInfo>, StoreError> {
        let mut infos = Vec::new();
        for p in paths {
            let info = self.query(p)?;
            for r in self.referrers(p)? {
                if &r != p && !paths.contains(&r) {
                    return Err(StoreError::StillAlive(self.print(p)));
                }
            }
            infos.push(info);
        }
        {
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql("starting a transaction"))?;
            // Referrers first, so `on delete restrict` holds.
            tx.execute_batch("pragma defer_foreign_keys = 1;")
                .map_err(sql("deleting paths"))?;
            for info in &infos {
                tx.execute(
                    "delete from ValidPaths where path = ?1",
                    params![self.print(&info.path)],
                )
                .map_err(sql("deleting paths"))?;
            }
            tx.commit().map_err(sql("committing a transaction"))?;
        }
        for info in &infos {
            delete_path(&self.real_path(&info.path))?;
        }
        Ok(infos)
    }
}

/// The NAR size of a single regular file of `n` bytes.
fn text_nar_size(n: usize) -> u64 {
    // Header, "type regular contents", the padded contents, closing.
    let pad = |len: usize| len.div_ceil(8) * 8;
    let strings = ["nix-archive-1", "(", "type", "regular", "contents"];
    let fixed: usize = strings.iter().map(|s| 8 + pad(s.len())).sum::<usize>() + 8 + 8;
    (fixed + 8 + pad(n)) as u64
}

struct HashingReader<'a> {
    inner: &'a mut dyn Read,
    hasher: Hasher,
    count: u64,
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Writes `contents` to `path` through a temporary file beside it.
fn write_file_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("/"));
    // Named after the file, so that a garbage collector sees it as part
    // of the path being written (a temporary root by its hash part).
    let mut prefix = path.file_name().unwrap_or_default().to_owned();
    prefix.push(".tmp-");
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(dir)
        .map_err(io_err(format!("creating a file in '{}'", dir.display())))?;
    tmp.write_all(contents)
        .map_err(io_err(format!("writing '{}'", path.display())))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io_err(format!(
            "setting permissions of '{}'",
            path.display()
        )))?;
    tmp.persist(path)
        .map_err(|e| io_err(format!("writing '{}'", path.display()))(e.error))?;
    Ok(())
}

/// Removes `path` whatever it is (made writable first), if it exists.
fn delete_path(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(format!("getting status of '{}'", path.display()))(e)),
    };
    if meta.is_dir() {
        let mut stack = vec![path.to_owned()];
        while let Some(d) = stack.pop() {
            let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755));
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        stack.push(e.path());
                    }
                }
            }
        }
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
    .map_err(io_err(format!("deleting '{}'", path.display())))
}

/// Sets the modification time of `path` itself (not following a
/// symlink) to 1, as C++ Nix's canonical store metadata has it.
fn set_mtime_one(path: &Path) -> Result<(), StoreError> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| StoreError::Local(format!("path '{}' has a NUL byte", path.display())))?;
    set_times(&c, 1, 1).map_err(io_err(format!(
        "changing the times of '{}'",
        path.display()
    )))
}

/// Sets the access and modification times (whole seconds) of `c` itself,
/// not following a symlink.
fn set_times(c: &CString, atime: i64, mtime: i64) -> io::Result<()> {
    let at = |sec: i64| libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: 0,
    };
    let times = [at(atime), at(mtime)];
    // SAFETY: `c` is a valid NUL-terminated path and `times` two timespecs.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// C++ Nix 2.8's `canonicalisePathMetaData(path, -1)`, step by step and
/// with its messages: each file's extended attributes removed (but
/// `security.selinux` and `system.nfs4_acl`), its mode made 0444 or 0555
/// when it is neither, its modification time 1, its owner this process's
/// user; a file neither regular, directory nor symlink is refused. As
/// another user than the files' owner (a client of the daemon) this fails
/// where C++ Nix fails.
pub fn canonicalise_path_metadata(path: &Path) -> Result<(), StoreError> {
    canonicalise_one(path)?;
    let meta = lstat(path)?;
    // SAFETY: geteuid has no preconditions.
    if std::os::unix::fs::MetadataExt::uid(&meta) != unsafe { libc::geteuid() } {
        return Err(StoreError::Local(format!(
            "wrong ownership of top-level store path '{}'",
            path.display()
        )));
    }
    Ok(())
}

fn lstat(path: &Path) -> Result<std::fs::Metadata, StoreError> {
    std::fs::symlink_metadata(path)
        .map_err(sys_err(format!("getting status of '{}'", path.display())))
}

/// A `SysError`'s message: `context: strerror`.
fn sys_err(context: String) -> impl FnOnce(io::Error) -> StoreError {
    move |e| StoreError::Local(format!("{context}: {}", crate::os_error::message(&e)))
}

fn c_path(path: &Path) -> Result<CString, StoreError> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| StoreError::Local(format!("path '{}' has a NUL byte", path.display())))
}

fn canonicalise_one(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt;
    let meta = lstat(path)?;
    let t = meta.file_type();
    if !(t.is_file() || t.is_dir() || t.is_symlink()) {
        return Err(StoreError::Local(format!(
            "file '{}' has an unsupported type",
            path.display()
        )));
    }
    let c = c_path(path)?;
    remove_xattrs(path, &c)?;
    let st_mode = meta.mode();
    if !t.is_symlink() {
        let mode = st_mode & 0o7777;
        if mode != 0o444 && mode != 0o555 {
            let mode = 0o444 | if st_mode & 0o100 != 0 { 0o111 } else { 0 };
            // SAFETY: `c` is a valid NUL-terminated path.
            if unsafe { libc::chmod(c.as_ptr(), mode as libc::mode_t) } == -1 {
                return Err(sys_err(format!(
                    "changing mode of '{}' to {mode:o}",
                    path.display()
                ))(io::Error::last_os_error()));
            }
        }
    }
    if meta.mtime() != 1 {
        set_times(&c, meta.atime(), 1).map_err(sys_err(format!(
            "changing modification time of '{}'",
            path.display()
        )))?;
    }
    // SAFETY: geteuid and getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if meta.uid() != uid {
        // SAFETY: `c` is a valid NUL-terminated path.
        if unsafe { libc::lchown(c.as_ptr(), uid, gid) } == -1 {
            return Err(sys_err(format!(
                "changing owner of '{}' to {uid}",
                path.display()
            ))(io::Error::last_os_error()));
        }
    }
    if t.is_dir() {
        // C++ Nix's readDirectory: in the order the directory gives.
        let entries = std::fs::read_dir(path)
            .map_err(sys_err(format!("opening directory '{}'", path.display())))?;
        for e in entries {
            let e = e.map_err(sys_err(format!("reading directory '{}'", path.display())))?;
            canonicalise_one(&e.path())?;
        }
    }
    Ok(())
}

/// Removes the extended attributes of `path` but those C++ Nix's
/// `ignored-acls` keeps.
fn remove_xattrs(path: &Path, c: &CString) -> Result<(), StoreError> {
    let querying = || format!("querying extended attributes of '{}'", path.display());
    // SAFETY: `c` is a valid path; a null buffer of size 0 asks the size.
    let size = unsafe { libc::llistxattr(c.as_ptr(), std::ptr::null_mut(), 0) };
    if size < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOTSUP) | Some(libc::ENODATA) => Ok(()),
            _ => Err(sys_err(querying())(e)),
        };
    }
    if size == 0 {
        return Ok(());
    }
    let mut buf = vec![0u8; size as usize];
    // SAFETY: `buf` has `buf.len()` writable bytes.
    let size = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if size < 0 {
        return Err(sys_err(querying())(io::Error::last_os_error()));
    }
    for name in buf[..size as usize]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
    {
        if name == b"security.selinux" || name == b"system.nfs4_acl" {
            continue;
        }
        let cname = CString::new(name).unwrap_or_default();
        // SAFETY: both are valid NUL-terminated strings.
        if unsafe { libc::lremovexattr(c.as_ptr(), cname.as_ptr()) } == -1 {
            return Err(sys_err(format!(
                "removing extended attribute '{}' from '{}'",
                String::from_utf8_lossy(name),
                path.display()
            ))(io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// C++ Nix's canonical metadata: read-only (0444, 0555 for executables
/// and directories), modification time 1, for the whole tree.
pub fn canonicalise(root: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mut dirs = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p)
            .map_err(io_err(format!("getting status of '{}'", p.display())))?;
        let t = meta.file_type();
        if t.is_dir() {
            for e in std::fs::read_dir(&p)
                .map_err(io_err(format!("reading directory '{}'", p.display())))?
            {
                let e = e.map_err(io_err(format!("reading directory '{}'", p.display())))?;
                stack.push(e.path());
            }
            dirs.push(p);
        } else if t.is_file() {
            let mode = if meta.permissions().mode() & 0o100 != 0 {
                0o555
            } else {
                0o444
            };
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                .map_err(io_err(format!("setting permissions of '{}'", p.display())))?;
            set_mtime_one(&p)?;
        } else {
            set_mtime_one(&p)?;
        }
    }
    // Directories last, deepest first, so that their children could
    // still be changed.
    for d in dirs.iter().rev() {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o555))
            .map_err(io_err(format!("setting permissions of '{}'", d.display())))?;
        set_mtime_one(d)?;
    }
    Ok(())
}

/// Restores the NAR `nar` at `real`, checking it against `info`'s hash
/// (and size, when known): `info` with the size read.
fn restore_checked(
    nar: &mut dyn Read,
    real: &Path,
    info: ValidPathInfo,
) -> Result<ValidPathInfo, StoreError> {
    let mut tee = HashingReader {
        inner: nar,
        hasher: Hasher::new(HashAlgo::Sha256),
        count: 0,
    };
    crate::nar::fs::restore(&mut tee, real).map_err(|e| StoreError::Local(e.to_string()))?;
    let got = tee.hasher.finish();
    let size = tee.count;
    if got != info.nar_hash {
        return Err(StoreError::NarHashMismatch {
            expected: Box::new(info.nar_hash),
            actual: Box::new(got),
        });
    }
    if info.nar_size != 0 && size != info.nar_size {
        return Err(StoreError::NarSizeMismatch {
            expected: info.nar_size,
            actual: size,
        });
    }
    Ok(ValidPathInfo {
        nar_size: size,
        ..info
    })
}
