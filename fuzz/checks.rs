#![allow(dead_code)] // each fuzz target uses one of these checks
//! The properties the fuzz targets check, shared with the regression test
//! (`tests/fuzz_regressions.rs`) that replays every input in
//! `fuzz/regressions/`. Each function panics when a property fails.

use std::io::{self, Cursor, Read};

use oxnix::derivation::Derivation;
use oxnix::hash::{Hash, HashFormat};
use oxnix::nar::{parse, NarVisitor, NarWriter};
use oxnix::store_path::StoreDir;

/// Re-serialises every node it is shown.
struct Rewriter {
    out: NarWriter<Vec<u8>>,
}

impl NarVisitor for Rewriter {
    fn enter_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        if let Some(name) = path.last() {
            self.out.entry(name)?;
        }
        self.out.start_directory()
    }
    fn leave_directory(&mut self, _: &[Vec<u8>]) -> io::Result<()> {
        self.out.end_directory()
    }
    fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> io::Result<()> {
        if let Some(name) = path.last() {
            self.out.entry(name)?;
        }
        self.out.symlink(target)
    }
    fn regular(
        &mut self,
        path: &[Vec<u8>],
        executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> io::Result<()> {
        if let Some(name) = path.last() {
            self.out.entry(name)?;
        }
        self.out.regular(executable, size, contents)
    }
}

/// A NAR the reader accepts is canonical: writing its nodes back gives the
/// same bytes. Anything else is rejected with an error, never a panic.
pub fn nar_reader(data: &[u8]) {
    let mut rw = Rewriter {
        out: NarWriter::new(Vec::new()).expect("writing to a Vec"),
    };
    if parse(Cursor::new(data), &mut rw).is_ok() {
        let out = rw.out.finish().expect("a complete archive");
        assert_eq!(
            &data[..out.len()],
            out.as_slice(),
            "accepted NAR is not canonical"
        );
    }
}

/// A derivation the parser accepts survives a write/parse round trip.
pub fn aterm(data: &[u8]) {
    let store = StoreDir::default();
    if let Ok(drv) = Derivation::from_aterm(data, &store) {
        let text = drv.to_aterm(&store);
        let again = Derivation::from_aterm(&text, &store).expect("our own output parses");
        assert_eq!(drv, again);
        let _ = drv.to_json(&store);
    }
}

/// A hash string that parses prints back to something that parses to it.
pub fn hash_parse(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = Hash::parse_any(s, None) {
        for f in [
            HashFormat::Base16,
            HashFormat::Nix32,
            HashFormat::Base64,
            HashFormat::Sri,
        ] {
            assert_eq!(Hash::parse_any(&h.to_string_with(f), None), Ok(h));
        }
    }
    let _ = oxnix::nixbase32::decode(data);
    let _ = StoreDir::default().parse_path(s);
}

/// Parsing and evaluating arbitrary text (bounded) never panics or
/// overflows the stack; every failure is an error value.
pub fn eval(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let text = text.to_owned();
    // As the command does: evaluation runs on a thread with a large stack.
    let worker = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let config = oxnix::eval::EvalConfig {
                max_steps: Some(20_000),
                ..Default::default()
            };
            let ev = oxnix::eval::Evaluator::new(config);
            let dir = std::path::Path::new("/nonexistent-fuzz-dir");
            let _ = ev.parse_and_show("«fuzz»", dir, text.clone());
            if let Ok(v) = ev.eval_source("«fuzz»", dir, text) {
                if ev.deep_force(v.clone()).is_ok() {
                    let _ = oxnix::eval::print::print(&v);
                }
            }
        })
        .expect("spawn the evaluator thread");
    worker.join().expect("evaluation must not panic");
}
