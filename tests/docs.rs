//! The committed man pages and shell completions must be exactly what
//! `oxnix gen-docs` generates from the clap definitions.

use std::path::Path;

#[test]
fn committed_docs_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stale = Vec::new();
    for (rel, contents) in oxnix::cli::gen_docs::generate().unwrap() {
        match std::fs::read(root.join(&rel)) {
            Ok(committed) if committed == contents => {}
            _ => stale.push(rel.display().to_string()),
        }
    }
    assert!(
        stale.is_empty(),
        "stale or missing generated files {stale:?}: run `cargo run -- gen-docs` and commit"
    );
}
