//! Replays every input kept in `fuzz/regressions/<target>/` (inputs that
//! once crashed or were interesting to a fuzz target) through the same
//! checks the fuzz targets make.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            check(&std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    n
}

#[test]
fn nar_reader_regressions() {
    replay("nar_reader", checks::nar_reader);
}

#[test]
fn aterm_regressions() {
    replay("aterm", checks::aterm);
}

#[test]
fn hash_parse_regressions() {
    replay("hash_parse", checks::hash_parse);
}

#[test]
fn eval_regressions() {
    replay("eval", checks::eval);
}
