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

/// Every reference to a man page (`\fBNAME\fR(1)`) names a generated page,
/// and no page has a section clap_mangen names by default (EXTRA).
#[test]
fn man_pages_refer_to_pages_that_exist() {
    let files = oxnix::cli::gen_docs::generate().unwrap();
    let pages: Vec<String> = files
        .iter()
        .filter_map(|(rel, _)| {
            let rel = rel.to_str()?;
            Some(
                rel.strip_prefix("man/")?
                    .strip_suffix(".1")?
                    .replace('-', "\\-"),
            )
        })
        .collect();
    let mut broken = Vec::new();
    for (rel, contents) in &files {
        if !rel.starts_with("man") {
            continue;
        }
        let text = String::from_utf8_lossy(contents);
        assert!(
            !text.contains(".SH EXTRA"),
            "{}: EXTRA section",
            rel.display()
        );
        for (i, _) in text.match_indices("(1)") {
            let before = &text[..i];
            let name = before
                .strip_suffix("\\fR")
                .and_then(|b| b.rsplit_once("\\fB"))
                .map(|(_, n)| n.to_owned())
                .unwrap_or_else(|| {
                    before
                        .rsplit(char::is_whitespace)
                        .next()
                        .unwrap_or("")
                        .to_owned()
                });
            if !pages.contains(&name) {
                broken.push(format!("{}: {name}(1)", rel.display()));
            }
        }
    }
    assert!(pages.len() >= 4, "too few man pages: {pages:?}");
    assert!(
        broken.is_empty(),
        "references to missing man pages: {broken:?}"
    );
}

/// The arguments each Nix command needs besides the flag under test to get
/// past reading its command line.
fn base_args(command: &str) -> &'static [&'static str] {
    match command {
        "nix-instantiate" => &["--eval", "-E", "1"],
        "nix-hash" => &["--type", "md5"],
        _ => &[],
    }
}

/// The clap definitions are only documentation (the command lines are read
/// by `cli::legacy_args`): each flag they name must be accepted.
#[test]
fn documented_flags_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut refused = Vec::new();
    for c in oxnix::cli::commands::nix_commands() {
        let cmd = (c.command)();
        let flags = oxnix::cli::legacy_args::documented_flags(&cmd);
        assert!(flags.len() > 10, "{}: too few flags found", c.name);
        for (flag, values) in flags {
            if flag == "--help" {
                continue;
            }
            let mut args: Vec<String> = base_args(c.name).iter().map(|s| s.to_string()).collect();
            args.push(flag.clone());
            args.extend(std::iter::repeat_n("1".to_owned(), values));
            // The multicall binary runs the command given as its first argument.
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_oxnix"))
                .arg(c.name)
                .args(&args)
                .current_dir(tmp.path())
                .env("OXNIX_STORE_DIR", tmp.path().join("store"))
                .env("NIX_CONF_DIR", tmp.path())
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("unrecognised flag") || err.contains("unknown flag") {
                refused.push(format!("{} {}: {}", c.name, args.join(" "), err.trim()));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "documented but refused:\n{}",
        refused.join("\n")
    );
}

/// `nix-store`'s operations answer "not supported yet" exactly when they
/// are listed as not implemented (their help says so).
#[test]
fn nix_store_operations_are_implemented_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for op in oxnix::cli::nix_store::OPERATIONS {
        let flag = format!("--{}", op.name);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_oxnix"))
            .args(["nix-store", &flag])
            .current_dir(tmp.path())
            .env("OXNIX_STORE", "memory://")
            .env("NIX_CONF_DIR", tmp.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let refused = err.contains(&format!("not supported yet: nix-store {flag}"));
        if refused == op.help.is_some() {
            wrong.push(format!("{flag}: {}", err.trim()));
        }
    }
    assert!(
        wrong.is_empty(),
        "documented wrongly:\n{}",
        wrong.join("\n")
    );
}
