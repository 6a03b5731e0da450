//! An in-memory file system tree, for building NARs in code (and tests) and
//! for reading small NARs back into a value.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use super::reader::{parse, NarVisitor};
use super::{NarError, NarWriter};

/// A node of a NAR: a file, a symlink or a directory of named nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Regular { executable: bool, contents: Vec<u8> },
    Symlink { target: Vec<u8> },
    Directory(BTreeMap<Vec<u8>, Node>),
}

impl Node {
    /// Serialises this tree as a NAR into `out`.
    pub fn write_nar<W: Write>(&self, out: W) -> io::Result<W> {
        let mut w = NarWriter::new(out)?;
        self.write_node(&mut w)?;
        w.finish()
    }

    /// The NAR serialisation as bytes.
    pub fn to_nar(&self) -> Vec<u8> {
        // Writing to a Vec cannot fail, and a Node is always well-formed
        // except for invalid entry names, which the writer reports.
        self.write_nar(Vec::new()).unwrap_or_default()
    }

    fn write_node<W: Write>(&self, w: &mut NarWriter<W>) -> io::Result<()> {
        match self {
            Node::Regular {
                executable,
                contents,
            } => w.regular_bytes(*executable, contents),
            Node::Symlink { target } => w.symlink(target),
            Node::Directory(entries) => {
                w.start_directory()?;
                for (name, node) in entries {
                    w.entry(name)?;
                    node.write_node(w)?;
                }
                w.end_directory()
            }
        }
    }

    /// Reads a whole NAR into memory (for small archives and tests).
    pub fn read_nar<R: Read>(input: R) -> Result<Node, NarError> {
        let mut b = TreeBuilder { root: None };
        parse(input, &mut b)?;
        b.root.ok_or(NarError::Truncated)
    }
}

struct TreeBuilder {
    root: Option<Node>,
}

impl TreeBuilder {
    fn place(&mut self, path: &[Vec<u8>], node: Node) -> io::Result<()> {
        let Some((last, parents)) = path.split_last() else {
            self.root = Some(node);
            return Ok(());
        };
        let mut cur = self
            .root
            .as_mut()
            .ok_or_else(|| io::Error::other("entry without a root"))?;
        for p in parents {
            cur = match cur {
                Node::Directory(d) => d
                    .get_mut(p)
                    .ok_or_else(|| io::Error::other("entry without its directory"))?,
                _ => return Err(io::Error::other("entry inside a non-directory")),
            };
        }
        match cur {
            Node::Directory(d) => {
                d.insert(last.clone(), node);
                Ok(())
            }
            _ => Err(io::Error::other("entry inside a non-directory")),
        }
    }
}

impl NarVisitor for TreeBuilder {
    fn enter_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        self.place(path, Node::Directory(BTreeMap::new()))
    }
    fn leave_directory(&mut self, _: &[Vec<u8>]) -> io::Result<()> {
        Ok(())
    }
    fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> io::Result<()> {
        self.place(
            path,
            Node::Symlink {
                target: target.to_vec(),
            },
        )
    }
    fn regular(
        &mut self,
        path: &[Vec<u8>],
        executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> io::Result<()> {
        let mut data = Vec::with_capacity(size.min(1 << 20) as usize);
        contents.read_to_end(&mut data)?;
        self.place(
            path,
            Node::Regular {
                executable,
                contents: data,
            },
        )
    }
}
