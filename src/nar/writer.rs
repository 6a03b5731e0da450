//! A streaming NAR writer: nodes are written as they are visited, file
//! contents are copied through a fixed buffer, so memory does not grow with
//! file size. The writer checks the structure it is asked to write (entry
//! names valid, sorted and unique; every directory closed) so it can only
//! produce well-formed archives.

use std::io::{self, Read, Write};

use super::{is_valid_entry_name, MAGIC};

const PADDING: [u8; 8] = [0; 8];
/// File contents are copied in pieces this size: measured fastest here (a
/// piece stays in the L2 cache between the read and the write).
const COPY_BUFFER: usize = 64 * 1024;

struct DirFrame {
    last_name: Option<Vec<u8>>,
    entry_open: bool,
}

/// Writes one NAR to `out`. Call [`NarWriter::symlink`], [`NarWriter::regular`]
/// or [`NarWriter::start_directory`] for the root, then for each directory
/// [`NarWriter::entry`] followed by the entry's node, then
/// [`NarWriter::end_directory`]; finish with [`NarWriter::finish`].
pub struct NarWriter<W: Write> {
    out: W,
    stack: Vec<DirFrame>,
    root_written: bool,
    buffer: Vec<u8>,
}

fn misuse(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("NAR writer: {msg}"))
}

impl<W: Write> NarWriter<W> {
    /// Starts an archive (writes the magic string).
    pub fn new(out: W) -> io::Result<Self> {
        let mut w = NarWriter {
            out,
            stack: Vec::new(),
            root_written: false,
            buffer: Vec::new(),
        };
        w.string(MAGIC)?;
        Ok(w)
    }

    fn string(&mut self, s: &[u8]) -> io::Result<()> {
        self.out.write_all(&(s.len() as u64).to_le_bytes())?;
        self.out.write_all(s)?;
        self.pad(s.len() as u64)
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % 8) as usize;
        if rem != 0 {
            self.out.write_all(&PADDING[..8 - rem])?;
        }
        Ok(())
    }

    fn begin_node(&mut self) -> io::Result<()> {
        match self.stack.last() {
            None if self.root_written => Err(misuse("the archive already has its root")),
            None => {
                self.root_written = true;
                Ok(())
            }
            Some(f) if f.entry_open => Ok(()),
            Some(_) => Err(misuse("a node inside a directory needs an entry first")),
        }
    }

    fn end_node(&mut self) -> io::Result<()> {
        if let Some(f) = self.stack.last_mut() {
            f.entry_open = false;
            self.string(b")")?;
        }
        Ok(())
    }

    /// Writes a symlink node.
    pub fn symlink(&mut self, target: &[u8]) -> io::Result<()> {
        self.begin_node()?;
        for s in [&b"("[..], b"type", b"symlink", b"target", target, b")"] {
            self.string(s)?;
        }
        self.end_node()
    }

    /// Writes a regular file of exactly `size` bytes taken from `contents`.
    pub fn regular(
        &mut self,
        executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> io::Result<()> {
        self.begin_node()?;
        self.regular_header(executable, size)?;
        if self.buffer.is_empty() {
            self.buffer = vec![0; COPY_BUFFER];
        }
        let mut left = size;
        while left > 0 {
            let want = left.min(self.buffer.len() as u64) as usize;
            let n = match contents.read(&mut self.buffer[..want]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("file ended {left} bytes before its recorded size"),
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.out.write_all(&self.buffer[..n])?;
            left -= n as u64;
        }
        self.regular_trailer(size)
    }

    /// Writes a regular file whose contents are in memory.
    pub fn regular_bytes(&mut self, executable: bool, contents: &[u8]) -> io::Result<()> {
        self.begin_node()?;
        self.regular_header(executable, contents.len() as u64)?;
        self.out.write_all(contents)?;
        self.regular_trailer(contents.len() as u64)
    }

    fn regular_header(&mut self, executable: bool, size: u64) -> io::Result<()> {
        self.string(b"(")?;
        self.string(b"type")?;
        self.string(b"regular")?;
        if executable {
            self.string(b"executable")?;
            self.string(b"")?;
        }
        self.string(b"contents")?;
        self.out.write_all(&size.to_le_bytes())
    }

    fn regular_trailer(&mut self, size: u64) -> io::Result<()> {
        self.pad(size)?;
        self.string(b")")?;
        self.end_node()
    }

    /// Opens a directory node; its entries follow.
    pub fn start_directory(&mut self) -> io::Result<()> {
        self.begin_node()?;
        for s in [&b"("[..], b"type", b"directory"] {
            self.string(s)?;
        }
        self.stack.push(DirFrame {
            last_name: None,
            entry_open: false,
        });
        Ok(())
    }

    /// Starts the entry `name` of the open directory; the next node written
    /// is its node. Names must be valid and strictly ascending.
    pub fn entry(&mut self, name: &[u8]) -> io::Result<()> {
        let frame = self
            .stack
            .last_mut()
            .ok_or_else(|| misuse("an entry outside a directory"))?;
        if frame.entry_open {
            return Err(misuse("an entry inside an entry"));
        }
        if !is_valid_entry_name(name) {
            return Err(misuse(&format!(
                "invalid entry name '{}'",
                bstr::BStr::new(name)
            )));
        }
        if frame.last_name.as_deref().is_some_and(|last| last >= name) {
            return Err(misuse("entries must be sorted and unique"));
        }
        frame.last_name = Some(name.to_vec());
        frame.entry_open = true;
        for s in [&b"entry"[..], b"(", b"name", name, b"node"] {
            self.string(s)?;
        }
        Ok(())
    }

    /// Closes the innermost open directory.
    pub fn end_directory(&mut self) -> io::Result<()> {
        match self.stack.last() {
            Some(f) if !f.entry_open => {
                self.stack.pop();
                self.string(b")")?;
                self.end_node()
            }
            _ => Err(misuse("no directory to close")),
        }
    }

    /// Checks the archive is complete and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.root_written || !self.stack.is_empty() {
            return Err(misuse("the archive is incomplete"));
        }
        self.out.flush()?;
        Ok(self.out)
    }
}
