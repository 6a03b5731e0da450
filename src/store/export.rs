//! C++ Nix's export format (`nix-store --export`/`--import`): for each path
//! the number 1, its NAR, the magic number `0x4558494e` ("NIXE"), the path,
//! its references (count, then each), its deriver (or an empty string) and
//! 0 (no legacy signature); the number 0 ends the stream. Numbers are 64-bit
//! little-endian; strings are a length then the bytes, padded to 8 bytes.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};

use super::{ingest, now, PathInfo, Store, StoreError};
use crate::hash::HashAlgo;
use crate::store_path::StorePath;

/// "NIXE", after each path's NAR.
pub const EXPORT_MAGIC: u64 = 0x4558_494e;

/// The longest string (path, reference, deriver, signature) we read.
const MAX_STRING: u64 = 64 * 1024;

pub(crate) fn write_u64(out: &mut impl Write, n: u64) -> Result<(), StoreError> {
    out.write_all(&n.to_le_bytes()).map_err(StoreError::Write)
}

pub(crate) fn write_str(out: &mut impl Write, s: &[u8]) -> Result<(), StoreError> {
    write_u64(out, s.len() as u64)?;
    out.write_all(s).map_err(StoreError::Write)?;
    let pad = (8 - s.len() % 8) % 8;
    out.write_all(&[0u8; 8][..pad]).map_err(StoreError::Write)
}

/// Writes `paths` (references first, as C++ Nix orders them) in the export
/// format.
pub fn export_paths<W: Write>(
    store: &Store,
    paths: &BTreeSet<StorePath>,
    mut out: W,
) -> Result<W, StoreError> {
    for p in store.sort_references_first(paths)? {
        let info = store.query(&p)?;
        write_u64(&mut out, 1)?;
        // Hash the NAR as it is written, and check it against the record.
        let tee = HashTee {
            out: &mut out,
            hasher: crate::hash::Hasher::new(HashAlgo::Sha256),
        };
        // Each file is checked before it is written: a damaged one ends
        // the stream there, without its trailer or the end marker.
        let tee = super::render::write_nar(&*store.blobs, &*store.directories, &info.node, tee)
            .map_err(|e| e.under(&store.print(&p)))?;
        let got = tee.hasher.finish();
        if got != info.nar_hash() {
            return Err(StoreError::NarHashChanged {
                path: store.print(&p),
                expected: Box::new(info.nar_hash()),
                actual: Box::new(got),
            });
        }
        write_u64(&mut out, EXPORT_MAGIC)?;
        write_str(&mut out, store.print(&p).as_bytes())?;
        write_u64(&mut out, info.references.len() as u64)?;
        for r in &info.references {
            write_str(&mut out, store.print(r).as_bytes())?;
        }
        let deriver = info
            .deriver
            .as_ref()
            .map(|d| store.print(d))
            .unwrap_or_default();
        write_str(&mut out, deriver.as_bytes())?;
        write_u64(&mut out, 0)?;
    }
    write_u64(&mut out, 0)?;
    out.flush().map_err(StoreError::Write)?;
    Ok(out)
}

struct HashTee<'a, W: Write> {
    out: &'a mut W,
    hasher: crate::hash::Hasher,
}

impl<W: Write> Write for HashTee<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

pub(crate) fn bad(msg: impl Into<String>) -> StoreError {
    StoreError::BadExport(msg.into())
}

pub(crate) fn read_u64(r: &mut impl Read) -> Result<u64, StoreError> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)
        .map_err(|_| bad("unexpected end-of-file"))?;
    Ok(u64::from_le_bytes(b))
}

pub(crate) fn read_str(r: &mut impl Read) -> Result<String, StoreError> {
    let len = read_u64(r)?;
    if len > MAX_STRING {
        return Err(bad(format!("string of {len} bytes is too long")));
    }
    let mut s = vec![0u8; len as usize];
    r.read_exact(&mut s)
        .map_err(|_| bad("unexpected end-of-file"))?;
    let pad = ((8 - len % 8) % 8) as usize;
    let mut p = [0u8; 8];
    r.read_exact(&mut p[..pad])
        .map_err(|_| bad("unexpected end-of-file"))?;
    if p.iter().any(|&b| b != 0) {
        return Err(bad("non-zero padding"));
    }
    String::from_utf8(s).map_err(|_| bad("a path is not UTF-8"))
}

/// What follows each NAR in the export format.
pub(crate) struct Trailer {
    pub path: StorePath,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
}

/// Reads the trailer after a NAR: the magic number, the path, its
/// references and deriver, and an optional legacy signature (ignored, as
/// C++ Nix does).
pub(crate) fn read_trailer(
    r: &mut impl Read,
    dir: &crate::store_path::StoreDir,
) -> Result<Trailer, StoreError> {
    if read_u64(r)? != EXPORT_MAGIC {
        return Err(bad("Nix archive cannot be imported; wrong format"));
    }
    let path = dir.parse_path(&read_str(r)?)?;
    let n = read_u64(r)?;
    let mut references = BTreeSet::new();
    for _ in 0..n {
        references.insert(dir.parse_path(&read_str(r)?)?);
    }
    let deriver = read_str(r)?;
    let deriver = if deriver.is_empty() {
        None
    } else {
        Some(dir.parse_path(&deriver)?)
    };
    if read_u64(r)? == 1 {
        read_str(r)?;
    }
    Ok(Trailer {
        path,
        references,
        deriver,
    })
}

/// Reads an export stream and registers every path in it; returns them in
/// stream order. Each NAR streams into the castore; its path info is written
/// only once the trailer (path, references, deriver) has been read and the
/// references are valid.
pub fn import_paths(store: &Store, input: impl Read) -> Result<Vec<StorePath>, StoreError> {
    import_paths_from(store, &mut BufReader::with_capacity(256 * 1024, input))
}

/// [`import_paths`] from a buffered reader, which is read no further than
/// the stream's end (what follows it is the caller's).
pub fn import_paths_from(store: &Store, r: &mut dyn BufRead) -> Result<Vec<StorePath>, StoreError> {
    // No garbage collection in this process between the blobs and the path
    // infos naming them (see `super::gc`).
    let _writing = store.collect_lock.writing();
    let mut r = r;
    let mut imported = Vec::new();
    loop {
        match read_u64(&mut r)? {
            0 => break,
            1 => {}
            n => return Err(bad(format!("unexpected item marker {n}"))),
        }
        let ing = ingest::ingest_nar_buffered(
            &*store.blobs,
            &*store.directories,
            &mut r,
            store.progress.as_deref(),
        )?;
        let Trailer {
            path,
            references,
            deriver,
        } = read_trailer(&mut r, &store.store_dir)?;
        for reference in &references {
            if *reference != path && !store.is_valid(reference)? {
                return Err(StoreError::NotValid(store.print(reference)));
            }
        }
        if !store.is_valid(&path)? {
            let mut nar_sha256 = [0u8; 32];
            nar_sha256.copy_from_slice(ing.nar_hash.digest());
            store.path_infos.put(PathInfo {
                store_path: path.clone(),
                node: ing.node,
                references,
                nar_sha256,
                nar_size: ing.nar_size,
                deriver,
                signatures: Vec::new(),
                ca: None,
                registration_time: now(),
            })?;
        }
        imported.push(path);
    }
    Ok(imported)
}

/// Adds one path whose NAR (`nar_size` bytes, no more read) comes with its
/// whole path info, as C++ Nix's `addToStore` takes it (the serve
/// protocol's `AddToStoreNar`): the NAR's hash and size must be the ones
/// given, and the references valid. A path already valid is left as it is
/// (its NAR read and dropped).
pub fn add_with_info(
    store: &Store,
    info: PathInfoGiven,
    nar: &mut dyn BufRead,
) -> Result<(), StoreError> {
    let _writing = store.collect_lock.writing();
    let mut limited = nar.take(info.nar_size);
    let ing = ingest::ingest_nar_buffered(
        &*store.blobs,
        &*store.directories,
        &mut limited,
        store.progress.as_deref(),
    )?;
    if ing.nar_hash != info.nar_hash {
        return Err(StoreError::ImportHashMismatch {
            path: store.print(&info.path),
            expected: Box::new(info.nar_hash),
            actual: Box::new(ing.nar_hash),
        });
    }
    if ing.nar_size != info.nar_size {
        return Err(bad(format!(
            "the NAR of '{}' is {} bytes, not the {} given",
            store.print(&info.path),
            ing.nar_size,
            info.nar_size
        )));
    }
    for reference in &info.references {
        if *reference != info.path && !store.is_valid(reference)? {
            return Err(StoreError::NotValid(store.print(reference)));
        }
    }
    if !store.is_valid(&info.path)? {
        let mut nar_sha256 = [0u8; 32];
        nar_sha256.copy_from_slice(ing.nar_hash.digest());
        store.path_infos.put(PathInfo {
            store_path: info.path,
            node: ing.node,
            references: info.references,
            nar_sha256,
            nar_size: ing.nar_size,
            deriver: info.deriver,
            signatures: info.signatures,
            ca: info.ca,
            registration_time: now(),
        })?;
    }
    Ok(())
}

/// What a client gives of a path it adds with its NAR.
pub struct PathInfoGiven {
    pub path: StorePath,
    pub nar_hash: crate::hash::Hash,
    pub nar_size: u64,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    pub signatures: Vec<String>,
    pub ca: Option<String>,
}
