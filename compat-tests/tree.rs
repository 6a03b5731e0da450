//! A generated file tree full of odd cases for the oracle tests.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// Builds the tree in a fresh temporary directory.
pub fn odd_tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let w = |p: &str, data: &[u8]| fs::write(r.join(p), data).unwrap();
    fs::create_dir(r.join("empty-dir")).unwrap();
    w("empty-file", b"");
    w("hello", b"hello\n");
    // Unicode, long and sorting-sensitive names.
    w("räksmörgås-🌮.txt", "unicode\n".as_bytes());
    w(&"l".repeat(255), b"long name\n");
    for n in ["a", "a.b", "a-b", "A", "aa", "a_b", "_", "Z"] {
        w(n, n.as_bytes());
    }
    fs::write(
        r.join(OsStr::from_bytes(b"latin1-\xe5\xe4\xf6")),
        b"bytes\n",
    )
    .unwrap();
    w("with\nnewline", b"nl\n");
    // Executables.
    w("run.sh", b"#!/bin/sh\necho hi\n");
    fs::set_permissions(r.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    w("only-user-exec", b"x");
    fs::set_permissions(r.join("only-user-exec"), fs::Permissions::from_mode(0o700)).unwrap();
    // Sizes around the padding and over 1 MiB.
    for len in [1usize, 7, 8, 9, 4095, 4096, 65537] {
        w(&format!("size-{len}"), &pattern(len));
    }
    w("big", &pattern(3 << 20 | 12345));
    // Symlinks: dangling, relative, absolute, to a directory, long target.
    symlink("does-not-exist", r.join("dangling")).unwrap();
    symlink("hello", r.join("relative-link")).unwrap();
    symlink("/etc/hostname", r.join("absolute-link")).unwrap();
    symlink("empty-dir", r.join("dir-link")).unwrap();
    symlink("t".repeat(1000), r.join("long-target")).unwrap();
    // Deep nesting.
    let mut deep = r.join("deep");
    for i in 0..60 {
        deep.push(format!("level{i}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("bottom"), b"bottom\n").unwrap();
    // A directory of many entries.
    fs::create_dir(r.join("many")).unwrap();
    for i in 0..300 {
        fs::write(r.join("many").join(format!("f{i}")), i.to_string()).unwrap();
    }
    t
}

fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// The root and each of its direct children.
pub fn all_paths(root: &Path) -> Vec<PathBuf> {
    let mut v = vec![root.to_owned()];
    let mut children: Vec<PathBuf> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    children.sort();
    v.extend(children);
    v
}
