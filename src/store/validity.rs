//! C++ Nix's validity registrations, the text `nix-store --dump-db` writes
//! and `--load-db`/`--register-validity` read: for each path, lines of
//!
//! ```text
//! /nix/store/…-name
//! <NAR hash, base16 SHA-256>     (only with the hash: dump-db, load-db,
//! <NAR size>                      register-validity --hash-given)
//! <deriver, or an empty line>
//! <number of references>
//! <each reference>
//! ```
//!
//! [`register`] makes the paths read valid; oxnix keeps a path's contents
//! in the castore, so a path whose tree is not stored already is ingested
//! from the file system at its store path and must have the NAR hash given.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, Write};

use thiserror::Error;

use super::local::{LocalStore, ValidPathInfo};
use super::{now, PathInfo, Store, StoreError};
use crate::hash::{Hash, HashAlgo, HashFormat};
use crate::store_path::{StoreDir, StorePath};

/// Why a registration could not be read or made. Messages follow C++ Nix.
#[derive(Debug, Error)]
pub enum ValidityError {
    #[error("{0}")]
    Hash(#[from] crate::hash::HashError),
    #[error("{0}")]
    StorePath(#[from] crate::store_path::StorePathError),
    #[error("number expected")]
    NumberExpected,
    #[error("missing input")]
    MissingInput,
    #[error("reading input: {0}")]
    Read(io::Error),
    #[error("getting status of '{path}': {}", crate::os_error::message(.source))]
    Missing {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "path '{path}' has NAR hash '{actual}' on disk, but the registration gives '{expected}'"
    )]
    HashMismatch {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// One registration read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub path: StorePath,
    /// The NAR hash and size, when the input gives them.
    pub nar: Option<(Hash, u64)>,
    pub deriver: Option<StorePath>,
    pub references: BTreeSet<StorePath>,
}

/// Writes the registration of `info` with its hash (as `--dump-db`).
pub fn write(out: &mut dyn Write, dir: &StoreDir, info: &PathInfo) -> io::Result<()> {
    write_registration(
        out,
        dir,
        &info.store_path,
        &info.nar_hash(),
        info.nar_size,
        info.deriver.as_ref(),
        &info.references,
    )
}

/// [`write`] for a path of C++ Nix's local store.
pub fn write_local(out: &mut dyn Write, dir: &StoreDir, info: &ValidPathInfo) -> io::Result<()> {
    write_registration(
        out,
        dir,
        &info.path,
        &info.nar_hash,
        info.nar_size,
        info.deriver.as_ref(),
        &info.references,
    )
}

fn write_registration(
    out: &mut dyn Write,
    dir: &StoreDir,
    path: &StorePath,
    nar_hash: &Hash,
    nar_size: u64,
    deriver: Option<&StorePath>,
    references: &BTreeSet<StorePath>,
) -> io::Result<()> {
    writeln!(out, "{}", dir.print(path))?;
    writeln!(out, "{}", nar_hash.encode(HashFormat::Base16))?;
    writeln!(out, "{nar_size}")?;
    match deriver {
        Some(d) => writeln!(out, "{}", dir.print(d))?,
        None => writeln!(out)?,
    }
    writeln!(out, "{}", references.len())?;
    for r in references {
        writeln!(out, "{}", dir.print(r))?;
    }
    Ok(())
}

/// Makes the paths of `regs` valid in C++ Nix's local store, as Nix 2.8's
/// `registerValidity`: a path valid already only with `reregister`; its
/// files (in the store directory) made canonical with `canonicalise`
/// (`--register-validity`), and hashed unless the input gives the hash;
/// then all registered in one transaction (references valid or
/// registered here).
pub fn register_local(
    store: &LocalStore,
    regs: Vec<Registration>,
    reregister: bool,
    canonicalise: bool,
) -> Result<(), ValidityError> {
    let mut chosen: BTreeMap<StorePath, ValidPathInfo> = BTreeMap::new();
    for r in regs {
        if store.is_valid(&r.path)? && !reregister {
            continue;
        }
        let real = store.real_path(&r.path);
        if canonicalise {
            if let Err(source) = std::fs::symlink_metadata(&real) {
                return Err(ValidityError::Missing {
                    path: real.display().to_string(),
                    source,
                });
            }
            super::local::canonicalise(&real)?;
        }
        let (nar_hash, nar_size) = match r.nar {
            Some(n) => n,
            None => super::local::maintain::hash_path(&real)?,
        };
        chosen.insert(
            r.path.clone(),
            ValidPathInfo {
                path: r.path,
                nar_hash,
                nar_size,
                references: r.references,
                deriver: r.deriver,
                registration_time: now(),
                ultimate: false,
                signatures: Vec::new(),
                ca: None,
            },
        );
    }
    let infos: Vec<ValidPathInfo> = chosen.into_values().collect();
    store.register_valid_paths(&infos)?;
    Ok(())
}

/// `--register-validity` and `--load-db` through C++ Nix's daemon, up to
/// where Nix 2.8's client finds that only a local store registers paths
/// (the caller then fails as it does): each registration read in turn, and
/// for a path not valid (or any with `reregister`) its files made
/// canonical (with `canonicalise`, as `--register-validity` does) and
/// hashed unless the input gives the hash.
pub fn check_through_daemon<R: BufRead>(
    store: &super::any::AnyStore,
    reader: &mut Reader<R>,
    reregister: bool,
    canonicalise: bool,
) -> Result<(), ValidityError> {
    while let Some(r) = reader.next_registration()? {
        if store.is_valid(&r.path)? && !reregister {
            continue;
        }
        let real = std::path::PathBuf::from(store.print(&r.path));
        if canonicalise {
            super::local::canonicalise_path_metadata(&real)?;
        }
        if r.nar.is_none() {
            super::local::maintain::hash_path(&real)?;
        }
    }
    Ok(())
}

/// Reads registrations from `input` one at a time.
pub struct Reader<R> {
    input: R,
    dir: StoreDir,
    /// Whether each registration carries its NAR hash and size.
    hash_given: bool,
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R, dir: StoreDir, hash_given: bool) -> Self {
        Reader {
            input,
            dir,
            hash_given,
        }
    }

    /// A line without its newline, and whether it had one.
    fn line(&mut self) -> Result<(String, bool), ValidityError> {
        let mut buf = Vec::new();
        self.input
            .read_until(b'\n', &mut buf)
            .map_err(ValidityError::Read)?;
        let complete = buf.last() == Some(&b'\n');
        if complete {
            buf.pop();
        }
        Ok((String::from_utf8_lossy(&buf).into_owned(), complete))
    }

    /// The next registration; `None` at the end of the input (as C++ Nix,
    /// also when the last path line has no newline).
    pub fn next_registration(&mut self) -> Result<Option<Registration>, ValidityError> {
        let (path, complete) = self.line()?;
        if !complete {
            return Ok(None);
        }
        let mut nar = None;
        if self.hash_given {
            let (h, _) = self.line()?;
            let hash = Hash::parse_any(&h, Some(HashAlgo::Sha256))?;
            let (s, _) = self.line()?;
            let size: u64 = s.parse().map_err(|_| ValidityError::NumberExpected)?;
            nar = Some((hash, size));
        }
        let path = self.dir.parse_path(&path)?;
        let (deriver, _) = self.line()?;
        let deriver = if deriver.is_empty() {
            None
        } else {
            Some(self.dir.parse_path(&deriver)?)
        };
        let (n, mut complete) = self.line()?;
        let n: u32 = n.parse().map_err(|_| ValidityError::NumberExpected)?;
        let mut references = BTreeSet::new();
        for _ in 0..n {
            let (r, c) = self.line()?;
            if !c && r.is_empty() {
                return Err(ValidityError::MissingInput);
            }
            references.insert(self.dir.parse_path(&r)?);
            complete = c;
        }
        if !complete {
            return Err(ValidityError::MissingInput);
        }
        Ok(Some(Registration {
            path,
            nar,
            deriver,
            references,
        }))
    }
}

/// Makes the paths of `regs` valid, all at once (the last registration of
/// a path counts). A path valid already is registered again only with
/// `reregister`. Its contents: the stored tree when the path is valid with
/// the NAR hash given (or none is given); else the file system at its store
/// path, ingested, which must have the NAR hash given. Every reference must
/// be valid or registered here.
pub fn register(
    store: &Store,
    regs: Vec<Registration>,
    reregister: bool,
) -> Result<Vec<StorePath>, ValidityError> {
    let _writing = store.collect_lock.writing();
    let mut chosen: BTreeMap<StorePath, Registration> = BTreeMap::new();
    for r in regs {
        if reregister || !store.is_valid(&r.path)? {
            chosen.insert(r.path.clone(), r);
        }
    }
    for r in chosen.values() {
        for reference in &r.references {
            if !chosen.contains_key(reference) && !store.is_valid(reference)? {
                return Err(StoreError::NotValid(store.print(reference)).into());
            }
        }
    }
    let mut infos = Vec::with_capacity(chosen.len());
    for r in chosen.values() {
        infos.push(path_info(store, r)?);
    }
    if infos.is_empty() {
        return Ok(Vec::new());
    }
    store.blobs.sync().map_err(StoreError::from)?;
    let paths = infos.iter().map(|i| i.store_path.clone()).collect();
    store.path_infos.put_many(infos)?;
    Ok(paths)
}

/// The path info `r` registers, with its tree stored.
fn path_info(store: &Store, r: &Registration) -> Result<PathInfo, ValidityError> {
    let printed = store.print(&r.path);
    let existing = store.path_infos.get(&r.path)?;
    let stored = existing.as_ref().filter(|i| match &r.nar {
        Some((h, _)) => i.nar_hash() == *h,
        None => true,
    });
    let on_disk = std::path::Path::new(&printed);
    let (node, nar_hash, nar_size, ca) = match stored {
        // Without a hash given, the file system is what C++ Nix hashes:
        // prefer it when it is there.
        Some(i) if r.nar.is_some() || std::fs::symlink_metadata(on_disk).is_err() => {
            (i.node.clone(), i.nar_hash(), i.nar_size, i.ca.clone())
        }
        _ => {
            if let Err(source) = std::fs::symlink_metadata(on_disk) {
                return Err(ValidityError::Missing {
                    path: printed,
                    source,
                });
            }
            let ing = super::ingest::ingest_path_with_progress(
                &*store.blobs,
                &*store.directories,
                on_disk,
                None,
                store.progress.as_deref(),
            )?;
            if let Some((h, _)) = &r.nar {
                if *h != ing.nar_hash {
                    return Err(ValidityError::HashMismatch {
                        path: printed,
                        expected: h.to_string_with(HashFormat::Nix32),
                        actual: ing.nar_hash.to_string_with(HashFormat::Nix32),
                    });
                }
            }
            (ing.node, ing.nar_hash, ing.nar_size, None)
        }
    };
    let mut d = [0u8; 32];
    d.copy_from_slice(nar_hash.digest());
    Ok(PathInfo {
        store_path: r.path.clone(),
        node,
        references: r.references.clone(),
        nar_sha256: d,
        // The size found, whatever the input says (as the hash, it is
        // checked by what is stored).
        nar_size,
        deriver: r.deriver.clone(),
        signatures: Vec::new(),
        ca,
        registration_time: now(),
    })
}
