//! A streaming NAR parser and validator. It walks the archive with an
//! explicit stack (no recursion, so deep trees cannot overflow the Rust
//! stack), hands each node to a [`NarVisitor`], streams file contents
//! without buffering them, and rejects every malformed archive: bad magic,
//! unknown tokens, invalid, unsorted or duplicate entry names, non-zero
//! padding, over-long strings and truncation.

use std::io::{self, BufRead, BufReader, Read};

use bstr::BString;

use super::{is_valid_entry_name, NarError, MAGIC, MAX_TOKEN_LEN};

/// Receives the nodes of a NAR in order. `path` holds the entry names from
/// the root (empty for the root node itself).
pub trait NarVisitor {
    fn enter_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()>;
    fn leave_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()>;
    fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> io::Result<()>;
    /// `contents` yields exactly `size` bytes; whatever the visitor leaves
    /// unread is skipped.
    fn regular(
        &mut self,
        path: &[Vec<u8>],
        executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> io::Result<()>;
}

/// A visitor that does nothing: `parse(r, &mut Validate)` only validates.
pub struct Validate;

impl NarVisitor for Validate {
    fn enter_directory(&mut self, _: &[Vec<u8>]) -> io::Result<()> {
        Ok(())
    }
    fn leave_directory(&mut self, _: &[Vec<u8>]) -> io::Result<()> {
        Ok(())
    }
    fn symlink(&mut self, _: &[Vec<u8>], _: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn regular(&mut self, _: &[Vec<u8>], _: bool, _: u64, _: &mut dyn Read) -> io::Result<()> {
        Ok(())
    }
}

struct Input<R: BufRead> {
    inner: R,
    offset: u64,
}

fn eof_to_truncated(e: io::Error) -> NarError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        NarError::Truncated
    } else {
        NarError::Io(e)
    }
}

impl<R: BufRead> Input<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), NarError> {
        self.inner.read_exact(buf).map_err(eof_to_truncated)?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn u64(&mut self) -> Result<u64, NarError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn padding(&mut self, len: u64) -> Result<(), NarError> {
        let rem = (len % 8) as usize;
        if rem != 0 {
            let at = self.offset;
            let mut pad = [0u8; 8];
            self.exact(&mut pad[..8 - rem])?;
            if pad.iter().any(|&b| b != 0) {
                return Err(NarError::BadPadding { offset: at });
            }
        }
        Ok(())
    }

    /// Reads a length-prefixed string of at most [`MAX_TOKEN_LEN`] bytes.
    fn token(&mut self) -> Result<Vec<u8>, NarError> {
        let at = self.offset;
        let len = self.u64()?;
        if len > MAX_TOKEN_LEN {
            return Err(NarError::TooLong { len, offset: at });
        }
        let mut s = vec![0u8; len as usize];
        self.exact(&mut s)?;
        self.padding(len)?;
        Ok(s)
    }

    fn expect(&mut self, want: &'static str) -> Result<(), NarError> {
        let at = self.offset;
        let got = self.token()?;
        if got != want.as_bytes() {
            return Err(NarError::Unexpected {
                expected: want,
                found: BString::from(got),
                offset: at,
            });
        }
        Ok(())
    }

    /// Skips `n` bytes of file contents.
    fn skip(&mut self, mut n: u64) -> Result<(), NarError> {
        while n > 0 {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Err(NarError::Truncated);
            }
            let k = (buf.len() as u64).min(n) as usize;
            self.inner.consume(k);
            self.offset += k as u64;
            n -= k as u64;
        }
        Ok(())
    }
}

/// File contents handed to [`NarVisitor::regular`]: reads at most the
/// file's size, and fails on truncation instead of returning a short file.
struct Contents<'a, R: BufRead> {
    input: &'a mut Input<R>,
    left: u64,
}

impl<R: BufRead> Read for Contents<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.left) as usize;
        let n = self.input.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "unexpected end-of-file",
            ));
        }
        self.input.offset += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Parses one NAR from `reader`, calling `visitor` for every node. Data after
/// the archive is not examined (as C++ Nix), though it may be read ahead.
pub fn parse<R: Read>(reader: R, visitor: &mut dyn NarVisitor) -> Result<(), NarError> {
    parse_buffered(&mut BufReader::with_capacity(256 * 1024, reader), visitor)
}

/// Parses one NAR from a buffered reader and reads nothing past its end, so
/// the caller can go on reading what follows (as in `nix-store --export`'s
/// format).
pub fn parse_buffered<R: BufRead>(
    reader: &mut R,
    visitor: &mut dyn NarVisitor,
) -> Result<(), NarError> {
    let mut input = Input {
        inner: reader,
        offset: 0,
    };
    match input.token() {
        Ok(m) if m == MAGIC => {}
        // Nothing at all is C++ Nix's end-of-file; anything else a wrong
        // magic.
        Err(NarError::Truncated) if input.offset == 0 => return Err(NarError::Truncated),
        Ok(_) | Err(NarError::Truncated) | Err(NarError::TooLong { .. }) => {
            return Err(NarError::NotANar)
        }
        Err(e) => return Err(e),
    }

    // All that is kept per level: for each open directory, the last entry
    // name seen in it (empty before the first). A node starts right after
    // its entry's name, the last one of its directory, so `names` is also
    // the path of the node being read.
    let mut names: Vec<Vec<u8>> = Vec::new();
    loop {
        let path = names.as_slice();
        // A node starts here.
        input.expect("(")?;
        input.expect("type")?;
        let at = input.offset;
        let kind = input.token()?;
        let opened_directory = match kind.as_slice() {
            b"regular" => {
                let at = input.offset;
                let mut tag = input.token()?;
                let executable = tag == b"executable";
                if executable {
                    let at = input.offset;
                    if !input.token()?.is_empty() {
                        return Err(NarError::BadExecutableMarker { offset: at });
                    }
                    tag = input.token()?;
                }
                if tag != b"contents" {
                    return Err(NarError::Unexpected {
                        expected: "'contents' or 'executable'",
                        found: tag.into(),
                        offset: at,
                    });
                }
                let size = input.u64()?;
                let mut contents = Contents {
                    input: &mut input,
                    left: size,
                };
                visitor
                    .regular(path, executable, size, &mut contents)
                    .map_err(eof_to_truncated)?;
                let left = contents.left;
                input.skip(left)?;
                input.padding(size)?;
                input.expect(")")?;
                false
            }
            b"symlink" => {
                input.expect("target")?;
                let target = input.token()?;
                input.expect(")")?;
                visitor.symlink(path, &target)?;
                false
            }
            b"directory" => {
                visitor.enter_directory(path)?;
                names.push(Vec::new());
                true
            }
            _ => {
                return Err(NarError::UnknownType {
                    found: kind.into(),
                    offset: at,
                })
            }
        };

        // Close finished entries and directories until the next entry starts.
        let mut entry_done = !opened_directory;
        loop {
            if names.is_empty() {
                return Ok(());
            }
            if entry_done {
                input.expect(")")?;
            }
            let at = input.offset;
            let tag = input.token()?;
            if tag == b")" {
                names.pop();
                visitor.leave_directory(&names)?;
                entry_done = true;
                continue;
            }
            if tag != b"entry" {
                return Err(NarError::Unexpected {
                    expected: "'entry' or ')'",
                    found: tag.into(),
                    offset: at,
                });
            }
            input.expect("(")?;
            input.expect("name")?;
            let at = input.offset;
            let name = input.token()?;
            if !is_valid_entry_name(&name) {
                return Err(NarError::InvalidName {
                    name: name.into(),
                    offset: at,
                });
            }
            let Some(last) = names.last_mut() else {
                return Ok(()); // checked at the top of the loop
            };
            if !last.is_empty() && last.as_slice() >= name.as_slice() {
                return Err(NarError::Unsorted {
                    previous: last.clone().into(),
                    name: name.into(),
                    offset: at,
                });
            }
            *last = name;
            input.expect("node")?;
            break;
        }
    }
}
