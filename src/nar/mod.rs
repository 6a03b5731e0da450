//! The Nix Archive (NAR) format: a canonical serialisation of a file system
//! tree (regular files with an executable bit, symlinks, directories with
//! sorted entries). [`writer`] produces NARs, [`reader`] parses and validates
//! them as a stream, [`tree`] is an in-memory form, and [`fs`] connects NARs
//! to the real file system (`nix-store --dump` / `--restore`).

pub mod fs;
pub mod reader;
pub mod tree;
pub mod writer;

use bstr::BString;
use thiserror::Error;

pub use reader::{parse, parse_buffered, NarVisitor};
pub use writer::NarWriter;

/// The first string of every NAR.
pub const MAGIC: &[u8] = b"nix-archive-1";

/// The longest string other than file contents that we accept in a NAR
/// (entry names, symlink targets, keywords): Linux's `PATH_MAX`.
pub const MAX_TOKEN_LEN: u64 = 4096;

/// Why a NAR could not be read.
#[derive(Debug, Error)]
pub enum NarError {
    #[error("input doesn't look like a Nix archive")]
    NotANar,
    #[error("unexpected end-of-file")]
    Truncated,
    #[error("expected {expected} but found '{found}' at byte {offset}")]
    Unexpected {
        expected: &'static str,
        found: BString,
        offset: u64,
    },
    #[error("unknown file type '{found}' at byte {offset}")]
    UnknownType { found: BString, offset: u64 },
    #[error("invalid file name '{name}' at byte {offset}")]
    InvalidName { name: BString, offset: u64 },
    #[error("directory entry '{name}' is not after '{previous}' (entries must be sorted and unique) at byte {offset}")]
    Unsorted {
        previous: BString,
        name: BString,
        offset: u64,
    },
    #[error("string of {len} bytes at byte {offset} is longer than the {MAX_TOKEN_LEN} allowed")]
    TooLong { len: u64, offset: u64 },
    #[error("non-zero padding at byte {offset}")]
    BadPadding { offset: u64 },
    #[error("executable marker has a non-empty value at byte {offset}")]
    BadExecutableMarker { offset: u64 },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// True for a name that may stand in a NAR directory: not empty, not `.` or
/// `..`, and without `/` or NUL.
pub fn is_valid_entry_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.iter().any(|&b| b == b'/' || b == 0)
}
