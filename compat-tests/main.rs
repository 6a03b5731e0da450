//! Oracle tests: run our `nix-hash`/`nix-store` and C++ Nix's on the same
//! inputs and compare stdout, exit codes and written files. The oracle is
//! found in `NIX_ORACLE_BIN` (default `/usr/bin`, Debian's `nix-bin`); when
//! it is absent the tests skip with a message, unless `OXNIX_REQUIRE_ORACLE`
//! is set (as `.ci/run` does), which makes absence a failure.
//!
//! `cli_corpus` runs the whole command lines of `cli-corpus.txt` with both.

mod cli_corpus;
mod derivations;
mod eval;
mod fetch;
mod store;
mod tree;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use oxnix::hash::{Hash, HashAlgo, HashFormat};
use oxnix::store_path::{IngestionMethod, StoreDir};

const OURS_HASH: &str = env!("CARGO_BIN_EXE_nix-hash");
const OURS_STORE: &str = env!("CARGO_BIN_EXE_nix-store");
const OURS_INSTANTIATE: &str = env!("CARGO_BIN_EXE_nix-instantiate");

/// Path of the oracle's `tool`, or `None` (after saying so) to skip.
fn oracle(tool: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("NIX_ORACLE_BIN").unwrap_or_else(|| "/usr/bin".into());
    let path = Path::new(&dir).join(tool);
    let ok = Command::new(&path)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("(Nix)"))
        .unwrap_or(false);
    if ok {
        return Some(path);
    }
    if std::env::var_os("OXNIX_REQUIRE_ORACLE").is_some() {
        panic!("C++ Nix oracle {} is required but missing", path.display());
    }
    eprintln!(
        "SKIPPING compat test: C++ Nix's {tool} not found in {} (apt-get install nix-bin)",
        Path::new(&dir).display()
    );
    None
}

fn run(bin: impl AsRef<OsStr>, args: &[&OsStr], cwd: &Path) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("spawn")
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Compares ours and the oracle on `args`: same stdout and exit code, and
/// when both fail, the same first line of the error message.
fn same(ours: &str, theirs: &Path, args: &[&OsStr], cwd: &Path, compare_stderr: bool) {
    let a = run(ours, args, cwd);
    let b = run(theirs, args, cwd);
    assert_eq!(
        a.status.code(),
        b.status.code(),
        "exit code for {args:?}: ours stderr {:?}, theirs {:?}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    assert!(
        a.stdout == b.stdout,
        "stdout differs for {args:?}: ours {} bytes, theirs {} bytes",
        a.stdout.len(),
        b.stdout.len()
    );
    if compare_stderr && !b.status.success() {
        assert_eq!(
            first_line(&a.stderr),
            first_line(&b.stderr),
            "stderr for {args:?}"
        );
    }
}

/// For failures: the same exit code and first line of the message. Stdout
/// may differ: C++ Nix writes the NAR header before noticing a missing path,
/// we write nothing.
fn same_failure(ours: &str, theirs: &Path, args: &[&OsStr], cwd: &Path) {
    let a = run(ours, args, cwd);
    let b = run(theirs, args, cwd);
    assert!(!b.status.success(), "oracle succeeded on {args:?}");
    assert_eq!(a.status.code(), b.status.code(), "exit code for {args:?}");
    assert_eq!(
        first_line(&a.stderr),
        first_line(&b.stderr),
        "stderr for {args:?}"
    );
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

#[test]
fn dump_is_byte_identical() {
    let Some(nix_store) = oracle("nix-store") else {
        return;
    };
    let t = tree::odd_tree();
    let mut n = 0;
    for p in tree::all_paths(t.path()) {
        same(
            OURS_STORE,
            &nix_store,
            &[os("--dump"), p.as_os_str()],
            t.path(),
            true,
        );
        n += 1;
    }
    // Errors: missing path, wrong argument counts.
    for args in [
        &["--dump", "missing"][..],
        &["--dump"],
        &["--dump", "a", "b"],
    ] {
        let args: Vec<&OsStr> = args.iter().map(|s| os(s)).collect();
        same_failure(OURS_STORE, &nix_store, &args, t.path());
        n += 1;
    }
    eprintln!("compat: nix-store --dump: {n} cases identical");
}

#[test]
fn nix_hash_every_mode_and_algorithm() {
    let Some(nix_hash) = oracle("nix-hash") else {
        return;
    };
    let t = tree::odd_tree();
    let paths = tree::all_paths(t.path());
    let mut n = 0;
    for algo in ["md5", "sha1", "sha256", "sha512"] {
        for format in [None, Some("--base32")] {
            for truncate in [false, true] {
                for flat in [false, true] {
                    let mut args = vec![os("--type"), os(algo)];
                    args.extend(format.map(os));
                    if truncate {
                        args.push(os("--truncate"));
                    }
                    if flat {
                        args.push(os("--flat"));
                    }
                    for p in &paths {
                        if flat && !p.is_file() {
                            continue;
                        }
                        let mut a = args.clone();
                        a.push(p.as_os_str());
                        same(OURS_HASH, &nix_hash, &a, t.path(), true);
                        n += 1;
                    }
                    // All paths in one call.
                    if !flat {
                        let mut a = args.clone();
                        a.extend(paths.iter().map(|p| p.as_os_str()));
                        same(OURS_HASH, &nix_hash, &a, t.path(), true);
                        n += 1;
                    }
                }
            }
        }
    }
    // Default algorithm (md5) and default format.
    same(
        OURS_HASH,
        &nix_hash,
        &[t.path().as_os_str()],
        t.path(),
        true,
    );
    n += 1;
    eprintln!("compat: nix-hash hashing: {n} cases identical");
}

#[test]
fn nix_hash_base64_and_sri_agree_with_oracle_base16() {
    // Nix 2.8 has no --base64/--sri; check ours against its base16 digest.
    let Some(nix_hash) = oracle("nix-hash") else {
        return;
    };
    let t = tree::odd_tree();
    let mut n = 0;
    for algo in HashAlgo::ALL {
        let theirs = run(
            &nix_hash,
            &[os("--type"), os(algo.name()), t.path().as_os_str()],
            t.path(),
        );
        let hex = first_line(&theirs.stdout);
        let expected = Hash::parse_any(&hex, Some(algo)).unwrap();
        for (flag, format) in [("--base64", HashFormat::Base64), ("--sri", HashFormat::Sri)] {
            let ours = run(
                OURS_HASH,
                &[
                    os("--type"),
                    os(algo.name()),
                    os(flag),
                    t.path().as_os_str(),
                ],
                t.path(),
            );
            assert_eq!(first_line(&ours.stdout), expected.encode(format));
            n += 1;
        }
    }
    eprintln!("compat: nix-hash --base64/--sri: {n} cases agree");
}

#[test]
fn nix_hash_conversions_and_errors() {
    let Some(nix_hash) = oracle("nix-hash") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"hello\n").unwrap();
    let mut n = 0;
    for algo in HashAlgo::ALL {
        let h = Hash::of_bytes(algo, b"hello\n");
        for input in [
            h.encode(HashFormat::Base16),
            h.encode(HashFormat::Base16).to_uppercase(),
            h.encode(HashFormat::Nix32),
            h.to_string_with(HashFormat::Base16),
            h.to_string_with(HashFormat::Nix32),
        ] {
            for to in ["--to-base16", "--to-base32"] {
                same(
                    OURS_HASH,
                    &nix_hash,
                    &[os(to), os("--type"), os(algo.name()), os(&input)],
                    dir.path(),
                    true,
                );
                n += 1;
            }
        }
    }
    let err_cases: &[&[&str]] = &[
        &["--type", "foo", "f"],
        &["--type"],
        &["--bogus"],
        &["--type", "sha256", "missing"],
        &["--type", "sha256", "f", "missing", "f"],
        &["--flat", "--type", "sha256", "."],
        &["--to-base16", "--type", "sha256", "abc"],
        &["--to-base32", "--type", "md5", "zzzzzzzzzzzzzzzzzzzzzzzzzz"],
        &[
            "--to-base32",
            "--type",
            "sha1",
            "sha256:1c37d01af40be2e80691de3cc3df44377a699afbb17c68f080964b2fd071fc13",
        ],
        &["--to-base16", "--type", "md5", "foo:abc"],
    ];
    for args in err_cases {
        let args: Vec<&OsStr> = args.iter().map(|s| os(s)).collect();
        same(OURS_HASH, &nix_hash, &args, dir.path(), true);
        n += 1;
    }
    eprintln!("compat: nix-hash conversions and errors: {n} cases identical");
}

#[test]
fn restore_recreates_what_the_oracle_dumps() {
    let Some(nix_store) = oracle("nix-store") else {
        return;
    };
    let t = tree::odd_tree();
    let out = tempfile::tempdir().unwrap();
    let theirs = run(&nix_store, &[os("--dump"), t.path().as_os_str()], t.path());
    assert!(theirs.status.success());
    let target = out.path().join("restored");
    let mut child = Command::new(OURS_STORE)
        .args([os("--restore"), target.as_os_str()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&theirs.stdout)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let again = run(&nix_store, &[os("--dump"), target.as_os_str()], out.path());
    assert!(
        again.stdout == theirs.stdout,
        "restored tree dumps differently"
    );
    // Restoring onto an existing path fails in both, and changes nothing.
    for bin in [Path::new(OURS_STORE), nix_store.as_path()] {
        let mut child = Command::new(bin)
            .args([os("--restore"), target.as_os_str()])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(&theirs.stdout);
        assert_eq!(child.wait().unwrap().code(), Some(1));
    }
    let still = run(&nix_store, &[os("--dump"), target.as_os_str()], out.path());
    assert!(still.stdout == theirs.stdout);
    eprintln!("compat: nix-store --restore: 3 cases identical");
}

/// `nix-store --add`/`--add-fixed` in a throw-away C++ Nix store, compared
/// with the store paths our library computes.
#[test]
fn store_paths_of_add_and_add_fixed() {
    let Some(nix_store) = oracle("nix-store") else {
        return;
    };
    let t = tree::odd_tree();
    let store = tempfile::tempdir().unwrap();
    let store_arg = format!("local?root={}", store.path().display());
    let store_dir = StoreDir::default();
    let mut n = 0;
    for p in tree::all_paths(t.path()) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if oxnix::store_path::validate_name(&name, &name).is_err() {
            continue;
        }
        let nar = oxnix::nar::fs::dump_path(&p, Vec::new()).unwrap();
        let mut cases: Vec<(Vec<&str>, IngestionMethod, HashAlgo)> =
            vec![(vec!["--add"], IngestionMethod::Recursive, HashAlgo::Sha256)];
        for algo in HashAlgo::ALL {
            cases.push((
                vec!["--add-fixed", "--recursive", algo.name()],
                IngestionMethod::Recursive,
                algo,
            ));
            if p.is_file() && !p.is_symlink() {
                cases.push((
                    vec!["--add-fixed", algo.name()],
                    IngestionMethod::Flat,
                    algo,
                ));
            }
        }
        for (op, method, algo) in cases {
            let mut args: Vec<&OsStr> = vec![os("--store"), os(&store_arg)];
            args.extend(op.iter().map(|s| os(s)));
            args.push(p.as_os_str());
            let theirs = run(&nix_store, &args, t.path());
            assert!(
                theirs.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&theirs.stderr)
            );
            let hash = match method {
                IngestionMethod::Recursive => Hash::of_bytes(algo, &nar),
                IngestionMethod::Flat => Hash::of_bytes(algo, &std::fs::read(&p).unwrap()),
            };
            let ours = store_dir
                .fixed_output_path(&name, method, &hash, &BTreeSet::new(), false)
                .unwrap();
            assert_eq!(
                first_line(&theirs.stdout),
                store_dir.print(&ours),
                "{args:?}"
            );
            n += 1;
        }
    }
    eprintln!("compat: store paths of --add/--add-fixed: {n} cases identical");
}

/// With `NIX_STORE_DIR` pointing elsewhere, C++ Nix's `--add`, `--add-fixed`
/// and `builtins.toFile` with references give the paths our `StoreDir`
/// computes for that directory.
#[test]
fn custom_store_dir_and_text_paths() {
    let Some(nix_store) = oracle("nix-store") else {
        return;
    };
    let Some(nix_instantiate) = oracle("nix-instantiate") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let dir = format!("{}/store", state.path().display());
    let env = |c: &mut Command| {
        c.env("NIX_STORE_DIR", &dir)
            .env("NIX_STATE_DIR", state.path().join("state"))
            .env("NIX_LOG_DIR", state.path().join("log"));
    };
    let store = StoreDir::new(&dir).unwrap();
    let work = tempfile::tempdir().unwrap();
    let f = work.path().join("f");
    std::fs::write(&f, b"hello\n").unwrap();

    let mut add = Command::new(&nix_store);
    env(&mut add);
    let out = add.arg("--add").arg(&f).output().unwrap();
    let nar = oxnix::nar::fs::dump_path(&f, Vec::new()).unwrap();
    let f_path = store
        .fixed_output_path(
            "f",
            IngestionMethod::Recursive,
            &Hash::of_bytes(HashAlgo::Sha256, &nar),
            &BTreeSet::new(),
            false,
        )
        .unwrap();
    assert_eq!(first_line(&out.stdout), store.print(&f_path));

    let mut add_fixed = Command::new(&nix_store);
    env(&mut add_fixed);
    let out = add_fixed
        .args(["--add-fixed", "sha1"])
        .arg(&f)
        .output()
        .unwrap();
    let flat = store
        .fixed_output_path(
            "f",
            IngestionMethod::Flat,
            &Hash::of_bytes(HashAlgo::Sha1, b"hello\n"),
            &BTreeSet::new(),
            false,
        )
        .unwrap();
    assert_eq!(first_line(&out.stdout), store.print(&flat));

    // A text file referring to another text file and to an imported path.
    let mut eval = Command::new(&nix_instantiate);
    env(&mut eval);
    let expr = r#"builtins.toFile "x" "${builtins.toFile "y" "a"} and ${./f}""#;
    let out = eval
        .args(["--eval", "-E", expr])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let y = store.text_path("y", b"a", &BTreeSet::new()).unwrap();
    let contents = format!("{} and {}", store.print(&y), store.print(&f_path));
    let refs: BTreeSet<_> = [y, f_path].into_iter().collect();
    let x = store.text_path("x", contents.as_bytes(), &refs).unwrap();
    assert_eq!(first_line(&out.stdout), format!("\"{}\"", store.print(&x)));
    eprintln!("compat: custom store dir and text paths: 3 cases identical");
}

/// An unreadable file (and directory): the same exit code and message. As
/// root, both commands run as `nobody` through `setpriv`.
#[test]
fn unreadable_paths() {
    let Some(nix_hash) = oracle("nix-hash") else {
        return;
    };
    let Some(nix_store) = oracle("nix-store") else {
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = t.path().join("secret");
    std::fs::write(&secret, b"x").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let closed = t.path().join("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::write(closed.join("inside"), b"y").unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o000)).unwrap();

    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    let prefix: Vec<&str> = if as_root {
        if Command::new("setpriv").arg("--version").output().is_err() {
            eprintln!("SKIPPING unreadable_paths: running as root without setpriv");
            return;
        }
        vec![
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ]
    } else {
        vec![]
    };
    let run_as = |bin: &Path, args: &[&OsStr]| -> Output {
        let mut argv: Vec<&OsStr> = prefix.iter().map(|s| os(s)).collect();
        argv.push(bin.as_os_str());
        argv.extend_from_slice(args);
        Command::new(argv[0])
            .args(&argv[1..])
            .current_dir(t.path())
            .env("HOME", t.path())
            .output()
            .unwrap()
    };
    let mut n = 0;
    for (ours, theirs, args) in [
        (
            OURS_HASH,
            &nix_hash,
            vec![os("--type"), os("sha256"), secret.as_os_str()],
        ),
        (
            OURS_HASH,
            &nix_hash,
            vec![os("--type"), os("sha256"), os("--flat"), secret.as_os_str()],
        ),
        (
            OURS_HASH,
            &nix_hash,
            vec![os("--type"), os("sha256"), closed.as_os_str()],
        ),
        (
            OURS_STORE,
            &nix_store,
            vec![os("--dump"), secret.as_os_str()],
        ),
        (
            OURS_STORE,
            &nix_store,
            vec![os("--dump"), closed.as_os_str()],
        ),
    ] {
        let a = run_as(Path::new(ours), &args);
        let b = run_as(theirs, &args);
        assert_eq!(a.status.code(), b.status.code(), "{args:?}");
        assert_eq!(first_line(&a.stderr), first_line(&b.stderr), "{args:?}");
        n += 1;
    }
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o755)).unwrap();
    eprintln!("compat: unreadable paths: {n} cases identical");
}

/// `--find-file` resolves names in the search path as C++ Nix does; names
/// are taken literally (`${` is no interpolation).
#[test]
fn find_file_in_search_path() {
    let Some(nix_instantiate) = oracle("nix-instantiate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("p")).unwrap();
    for f in ["a.nix", "x${y}"] {
        std::fs::write(dir.path().join("p").join(f), b"1").unwrap();
    }
    let mut n = 0;
    for name in ["a.nix", "x${y}", "missing.nix"] {
        let args = [os("-I"), os("p"), os("--find-file"), os(name)];
        same(OURS_INSTANTIATE, &nix_instantiate, &args, dir.path(), true);
        n += 1;
    }
    eprintln!("compat: nix-instantiate --find-file: {n} cases identical");
}
