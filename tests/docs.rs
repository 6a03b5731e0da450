//! The committed man pages and shell completions must be exactly what
//! `oxnix gen-docs` generates from the clap definitions, and every flag
//! they document must be one the command accepts.

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

/// The clap definitions are only documentation (the command lines are read
/// by `cli::legacy_args`): each flag they name must be accepted.
#[test]
fn documented_flags_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let commands = [
        (
            oxnix::cli::nix_instantiate::command(),
            env!("CARGO_BIN_EXE_nix-instantiate"),
            vec!["--eval", "-E", "1"],
        ),
        (
            oxnix::cli::nix_store::command(),
            env!("CARGO_BIN_EXE_nix-store"),
            vec![],
        ),
        (
            oxnix::cli::nix_hash::command(),
            env!("CARGO_BIN_EXE_nix-hash"),
            vec!["--type", "md5"],
        ),
    ];
    let mut refused = Vec::new();
    for (cmd, bin, base) in commands {
        let flags = oxnix::cli::legacy_args::documented_flags(&cmd);
        assert!(flags.len() > 10, "{}: too few flags found", cmd.get_name());
        for (flag, values) in flags {
            if flag == "--help" {
                continue;
            }
            let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
            args.push(flag.clone());
            args.extend(std::iter::repeat_n("1".to_owned(), values));
            let out = std::process::Command::new(bin)
                .args(&args)
                .current_dir(tmp.path())
                .env("OXNIX_STORE_DIR", tmp.path().join("store"))
                .env("NIX_CONF_DIR", tmp.path())
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("unrecognised flag") || err.contains("unknown flag") {
                refused.push(format!(
                    "{} {}: {}",
                    cmd.get_name(),
                    args.join(" "),
                    err.trim()
                ));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "documented but refused:\n{}",
        refused.join("\n")
    );
}
