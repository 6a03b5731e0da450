//! `nix-store --serve [--write]`: C++ Nix's serve protocol on standard
//! input and output, what `nix-copy-closure` and `ssh://` stores run on
//! the other machine. Version 2.7, as Nix 2.8 speaks it: a greeting of
//! magic numbers and versions, then commands until the input ends. Paths
//! are queried, dumped, exported and closed over on any store; importing
//! and adding them takes `--write`. oxnix builds nothing, so the two build
//! commands end the session with an error, as a refused command does in
//! C++ Nix.

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};

use crate::hash::{HashAlgo, HashFormat};
use crate::store::any::AnyStore;
use crate::store::export::PathInfoGiven;
use crate::store::nix_daemon::wire::{
    read_bool, read_string, read_strings, read_u64, write_bytes, write_strings, write_u64,
};
use crate::store_path::{StoreDir, StorePath};

use super::super::CliError;

const SERVE_MAGIC_1: u64 = 0x390c_9deb;
const SERVE_MAGIC_2: u64 = 0x5452_eecb;
/// Major 2, minor 7.
const SERVE_PROTOCOL_VERSION: u64 = (2 << 8) | 7;

const QUERY_VALID_PATHS: u64 = 1;
const QUERY_PATH_INFOS: u64 = 2;
const DUMP_STORE_PATH: u64 = 3;
const IMPORT_PATHS: u64 = 4;
const EXPORT_PATHS: u64 = 5;
const BUILD_PATHS: u64 = 6;
const QUERY_CLOSURE: u64 = 7;
const BUILD_DERIVATION: u64 = 8;
const ADD_TO_STORE_NAR: u64 = 9;

/// The session: `input` and `out` are the client's; `closure` computes
/// `computeFSClosure` (with the outputs of derivations when asked).
pub(super) struct Session<'a> {
    pub(super) store: &'a AnyStore,
    pub(super) dir: &'a StoreDir,
    pub(super) write_allowed: bool,
    pub(super) closure:
        &'a dyn Fn(BTreeSet<StorePath>, bool) -> Result<BTreeSet<StorePath>, CliError>,
}

impl Session<'_> {
    /// Serves until the client closes its end.
    pub(super) fn run(&self, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<(), CliError> {
        if read_u64(input).map_err(io_error)? != SERVE_MAGIC_1 {
            return Err(CliError::Failed("protocol mismatch".into()));
        }
        write_u64(out, SERVE_MAGIC_2).map_err(io_error)?;
        write_u64(out, SERVE_PROTOCOL_VERSION).map_err(io_error)?;
        out.flush().map_err(io_error)?;
        let client_minor = read_u64(input).map_err(io_error)? & 0xff;
        loop {
            // The input's end between commands is the session's end.
            if input.fill_buf().map_err(io_error)?.is_empty() {
                return Ok(());
            }
            let cmd = read_u64(input).map_err(io_error)?;
            self.command(cmd, client_minor, input, out)?;
            out.flush().map_err(io_error)?;
        }
    }

    fn command(
        &self,
        cmd: u64,
        client_minor: u64,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
    ) -> Result<(), CliError> {
        let store = self.store;
        match cmd {
            QUERY_VALID_PATHS => {
                let lock = read_bool(input).map_err(io_error)?;
                // Substituting (`nix-copy-closure --use-substitutes`):
                // oxnix has no substituters, so there is nothing to fetch.
                let _substitute = read_bool(input).map_err(io_error)?;
                let paths = self.read_paths(input)?;
                if lock && self.write_allowed {
                    for p in &paths {
                        store.add_temp_root(p).map_err(CliError::failed)?;
                    }
                }
                let mut valid = Vec::new();
                for p in paths {
                    if store.is_valid(&p).map_err(CliError::failed)? {
                        valid.push(store.print(&p));
                    }
                }
                write_strings(out, valid.iter().map(String::as_str)).map_err(io_error)
            }
            QUERY_PATH_INFOS => {
                for p in self.read_paths(input)? {
                    if !store.is_valid(&p).map_err(CliError::failed)? {
                        continue;
                    }
                    let info = store.query(&p).map_err(CliError::failed)?;
                    let deriver = info.deriver.as_ref().map(|d| store.print(d));
                    let refs: Vec<String> =
                        info.references.iter().map(|r| store.print(r)).collect();
                    write_bytes(out, store.print(&p).as_bytes()).map_err(io_error)?;
                    write_bytes(out, deriver.unwrap_or_default().as_bytes()).map_err(io_error)?;
                    write_strings(out, refs.iter().map(String::as_str)).map_err(io_error)?;
                    // The download size, then the NAR size: the same here.
                    write_u64(out, info.nar_size).map_err(io_error)?;
                    write_u64(out, info.nar_size).map_err(io_error)?;
                    if client_minor >= 4 {
                        let hash = info.nar_hash.to_string_with(HashFormat::Nix32);
                        write_bytes(out, hash.as_bytes()).map_err(io_error)?;
                        write_bytes(out, info.ca.unwrap_or_default().as_bytes())
                            .map_err(io_error)?;
                        let sigs: BTreeSet<&str> =
                            info.signatures.iter().map(String::as_str).collect();
                        write_strings(out, sigs.into_iter()).map_err(io_error)?;
                    }
                }
                write_bytes(out, b"").map_err(io_error)
            }
            DUMP_STORE_PATH => {
                let path = self.read_path(input)?;
                store.nar(&path, out).map_err(CliError::failed)
            }
            IMPORT_PATHS => {
                self.need_write("importing paths is not allowed")?;
                store.import_paths_from(input).map_err(CliError::failed)?;
                write_u64(out, 1).map_err(io_error)
            }
            EXPORT_PATHS => {
                // Whether to sign: no longer used.
                let _ = read_u64(input).map_err(io_error)?;
                let paths = self.read_paths(input)?;
                store.export_paths(&paths, out).map_err(CliError::failed)
            }
            BUILD_PATHS | BUILD_DERIVATION => {
                self.need_write("building paths is not allowed")?;
                Err(CliError::Failed(
                    "not supported yet: building through 'nix-store --serve' (oxnix does not build derivations)".into(),
                ))
            }
            QUERY_CLOSURE => {
                let include_outputs = read_bool(input).map_err(io_error)?;
                let paths = self.read_paths(input)?;
                let closure = (self.closure)(paths, include_outputs)?;
                let printed: Vec<String> = closure.iter().map(|p| store.print(p)).collect();
                write_strings(out, printed.iter().map(String::as_str)).map_err(io_error)
            }
            ADD_TO_STORE_NAR => {
                self.need_write("importing paths is not allowed")?;
                let path = self.read_path(input)?;
                let deriver = read_string(input).map_err(io_error)?;
                let hash = read_string(input).map_err(io_error)?;
                let nar_hash = crate::hash::Hash::parse_any(&hash, Some(HashAlgo::Sha256))
                    .map_err(CliError::failed)?;
                let deriver = match deriver.as_str() {
                    "" => None,
                    d => Some(self.parse(d)?),
                };
                let references = self.read_paths(input)?;
                let _registration_time = read_u64(input).map_err(io_error)?;
                let nar_size = read_u64(input).map_err(io_error)?;
                let _ultimate = read_bool(input).map_err(io_error)?;
                let signatures = read_strings(input).map_err(io_error)?;
                let ca = read_string(input).map_err(io_error)?;
                if nar_size == 0 {
                    return Err(CliError::Failed(
                        "narInfo is too old and missing the narSize field".into(),
                    ));
                }
                let given = PathInfoGiven {
                    path,
                    nar_hash,
                    nar_size,
                    references,
                    deriver,
                    signatures: signatures
                        .into_iter()
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect(),
                    ca: (!ca.is_empty()).then_some(ca),
                };
                store
                    .add_with_info(given, input)
                    .map_err(CliError::failed)?;
                write_u64(out, 1).map_err(io_error)
            }
            other => Err(CliError::Failed(format!("unknown serve command {other}"))),
        }
    }

    fn need_write(&self, refusal: &str) -> Result<(), CliError> {
        if self.write_allowed {
            Ok(())
        } else {
            Err(CliError::Failed(refusal.into()))
        }
    }

    fn parse(&self, s: &str) -> Result<StorePath, CliError> {
        self.dir.parse_path(s).map_err(CliError::failed)
    }

    fn read_path(&self, input: &mut dyn BufRead) -> Result<StorePath, CliError> {
        self.parse(&read_string(input).map_err(io_error)?)
    }

    /// A set of store paths (sorted and without repeats, as C++ Nix reads
    /// it into a `std::set`).
    fn read_paths(&self, input: &mut dyn BufRead) -> Result<BTreeSet<StorePath>, CliError> {
        read_strings(input)
            .map_err(io_error)?
            .iter()
            .map(|s| self.parse(s))
            .collect()
    }
}

/// C++ Nix's messages for a client that went away or sent too little.
fn io_error(e: io::Error) -> CliError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        CliError::Failed("unexpected end-of-file".into())
    } else {
        CliError::failed(e)
    }
}
