//! The worker protocol's wire format: little-endian 64-bit numbers, and
//! byte strings as their length then their bytes padded with zeros to a
//! multiple of 8. Reads are bounded, so a hostile peer cannot make us
//! allocate what it claims.

use std::io::{self, Read, Write};

/// The longest string we accept from a daemon (a `.drv` or log line is far
/// shorter; NARs do not travel as strings).
pub const MAX_STRING: u64 = 64 << 20;
/// The most elements of a list we accept.
pub const MAX_LIST: u64 = 1 << 24;

pub fn write_u64(w: &mut dyn Write, n: u64) -> io::Result<()> {
    w.write_all(&n.to_le_bytes())
}

pub fn write_bool(w: &mut dyn Write, b: bool) -> io::Result<()> {
    write_u64(w, u64::from(b))
}

pub fn write_bytes(w: &mut dyn Write, b: &[u8]) -> io::Result<()> {
    write_u64(w, b.len() as u64)?;
    w.write_all(b)?;
    let pad = (8 - b.len() % 8) % 8;
    w.write_all(&[0u8; 8][..pad])
}

pub fn write_strings<'a>(
    w: &mut dyn Write,
    items: impl ExactSizeIterator<Item = &'a str>,
) -> io::Result<()> {
    write_u64(w, items.len() as u64)?;
    for s in items {
        write_bytes(w, s.as_bytes())?;
    }
    Ok(())
}

pub fn read_u64(r: &mut dyn Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

pub fn read_bool(r: &mut dyn Read) -> io::Result<bool> {
    Ok(read_u64(r)? != 0)
}

pub fn read_bytes(r: &mut dyn Read) -> io::Result<Vec<u8>> {
    let n = read_u64(r)?;
    if n > MAX_STRING {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the daemon sent a string of {n} bytes"),
        ));
    }
    let n = n as usize;
    let mut b = vec![0u8; n];
    r.read_exact(&mut b)?;
    let mut pad = [0u8; 8];
    let p = (8 - n % 8) % 8;
    r.read_exact(&mut pad[..p])?;
    if pad[..p].iter().any(|&x| x != 0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the daemon sent a string with non-zero padding",
        ));
    }
    Ok(b)
}

pub fn read_string(r: &mut dyn Read) -> io::Result<String> {
    String::from_utf8(read_bytes(r)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the daemon sent a string that is not UTF-8",
        )
    })
}

pub fn read_strings(r: &mut dyn Read) -> io::Result<Vec<String>> {
    let n = read_u64(r)?;
    if n > MAX_LIST {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the daemon sent a list of {n} elements"),
        ));
    }
    (0..n).map(|_| read_string(r)).collect()
}

/// A writer of C++ Nix's framed data: chunks, each its length then its
/// bytes, ended by an empty chunk (written by [`FramedWriter::finish`]).
pub struct FramedWriter<'a> {
    inner: &'a mut dyn Write,
    buf: Vec<u8>,
}

impl<'a> FramedWriter<'a> {
    pub fn new(inner: &'a mut dyn Write) -> FramedWriter<'a> {
        FramedWriter {
            inner,
            buf: Vec::with_capacity(64 << 10),
        }
    }

    fn flush_chunk(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            write_u64(self.inner, self.buf.len() as u64)?;
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.flush_chunk()?;
        write_u64(self.inner, 0)
    }
}

impl Write for FramedWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 << 10 {
            self.flush_chunk()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_padded_and_read_back() {
        let mut out = Vec::new();
        write_bytes(&mut out, b"abc").unwrap();
        assert_eq!(out.len(), 16);
        assert_eq!(&out[8..11], b"abc");
        assert_eq!(read_bytes(&mut &out[..]).unwrap(), b"abc");
        let mut out = Vec::new();
        write_bytes(&mut out, b"12345678").unwrap();
        assert_eq!(out.len(), 16);
    }

    #[test]
    fn hostile_lengths_are_refused() {
        let mut out = Vec::new();
        write_u64(&mut out, u64::MAX).unwrap();
        assert!(read_bytes(&mut &out[..]).is_err());
        assert!(read_strings(&mut &out[..]).is_err());
        let mut bad = Vec::new();
        write_u64(&mut bad, 1).unwrap();
        bad.extend_from_slice(b"a\x01\0\0\0\0\0\0");
        assert!(read_bytes(&mut &bad[..]).is_err());
    }

    #[test]
    fn framed_data_ends_with_an_empty_chunk() {
        let mut out = Vec::new();
        let mut w = FramedWriter::new(&mut out);
        w.write_all(b"hello").unwrap();
        w.finish().unwrap();
        assert_eq!(read_u64(&mut &out[..8]).unwrap(), 5);
        assert_eq!(&out[8..13], b"hello");
        assert_eq!(read_u64(&mut &out[13..]).unwrap(), 0);
    }
}
