//! The Nix language test suites, with upstream's rules: our own cases in
//! `nix_tests/` (all must pass) and C++ Nix's suite in
//! `../shared/upstream/nix-lang` (or `$NIX_LANG_TESTS`), whose failing cases
//! must be exactly those listed in `nix_tests/upstream-expected-failures.txt`
//! so that a case changing state either way is noticed. Set
//! `OXNIX_UPDATE_EXPECTED=1` to rewrite that list.
//!
//! The upstream suite runs through a link named `lang`, the directory name
//! its expected outputs contain.
//!
//! Rules: `eval-okay-X.nix` must print `X.exp` under `--eval --strict`
//! (plus `X.flags`); `X.exp.xml` means `--eval --strict --xml
//! --no-location`; `eval-fail-X` must fail; `parse-okay`/`parse-fail` run
//! `--parse -` (a `parse-okay` case with an `.exp` must also print it). In
//! our suite a failing case with an `X.err.exp` (C++ Nix 2.8's stderr, run
//! without `--show-trace`) must print its first line and position too. Cases run from the suite's parent directory with
//! `NIX_PATH=<dir>/dir3:<dir>/dir4 HOME=/fake-home TEST_VAR=foo`, and the
//! parent's path is replaced by `/pwd` in the output.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nix-instantiate");
const TIMEOUT: Duration = Duration::from_secs(60);

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(args: &[String], cwd: &Path, base: &str, stdin: Option<Vec<u8>>) -> Outcome {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("NIX_PATH", format!("{base}/dir3:{base}/dir4"))
        .env("HOME", "/fake-home")
        .env("TEST_VAR", "foo")
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nix-instantiate");
    if let Some(input) = stdin {
        let _ = child.stdin.take().map(|mut s| s.write_all(&input));
    }
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut { stdout }, &mut s);
        s
    });
    let stderr = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut { stderr }, &mut s);
        s
    });
    let start = Instant::now();
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    Outcome {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// The error's first line and its position line (blank lines dropped: C++
/// Nix 2.8 separates them with blank lines, oxnix does not).
fn error_head(text: &str) -> Vec<String> {
    // Warnings (a search path entry of the harness that is missing) come
    // before the error in both implementations.
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with("warning:"))
        .take(2)
        .map(str::to_owned)
        .collect()
}

/// Runs one case; true when it passes. With `check_errors`, a failing
/// case with an `.err.exp` (C++ Nix 2.8's output, run without
/// `--show-trace`) must also print its first line and position.
fn case_passes(dir: &Path, name: &str, check_errors: bool) -> bool {
    let parent = dir.parent().expect("suite directory has a parent");
    let err_exp = dir.join(format!("{name}.err.exp"));
    let expected_error = if check_errors {
        std::fs::read_to_string(&err_exp).ok()
    } else {
        None
    };
    let error_ok = |o: &Outcome| match &expected_error {
        Some(exp) => {
            let got = o.stderr.replace(&*parent.to_string_lossy(), "/pwd");
            let ok = error_head(&got) == error_head(exp);
            if !ok {
                eprintln!(
                    "{name}: expected error {:?}, got {:?}",
                    error_head(exp),
                    error_head(&got)
                );
            }
            ok
        }
        None => true,
    };
    let base = dir
        .file_name()
        .expect("named")
        .to_string_lossy()
        .into_owned();
    let file = dir.join(format!("{name}.nix"));
    let rel = format!("{base}/{name}.nix");
    let with = |ext: &str| dir.join(format!("{name}{ext}"));
    if name.starts_with("parse-") {
        let input = std::fs::read(&file).expect("read case");
        let o = run(&["--parse".into(), "-".into()], parent, &base, Some(input));
        return if name.starts_with("parse-okay") {
            // Stricter than upstream: the printed form must match too.
            let shown_ok = match std::fs::read_to_string(with(".exp")) {
                Ok(exp) => o.stdout.trim() == exp.trim(),
                Err(_) => true,
            };
            o.code == Some(0) && shown_ok
        } else {
            matches!(o.code, Some(c) if c != 0) && error_ok(&o)
        };
    }
    let mut flags: Vec<String> = match std::fs::read_to_string(with(".flags")) {
        Ok(f) => f
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect(),
        Err(_) => vec![],
    };
    if name.starts_with("eval-okay") {
        let (args, exp) = if with(".exp.xml").exists() {
            let args = vec![
                "--eval".into(),
                "--xml".into(),
                "--no-location".into(),
                "--strict".into(),
                rel,
            ];
            (args, with(".exp.xml"))
        } else {
            flags.extend(["--eval".into(), "--strict".into(), rel]);
            (flags, with(".exp"))
        };
        let Ok(expected) = std::fs::read(&exp) else {
            return false;
        };
        let o = run(&args, parent, &base, None);
        let out = o.stdout.replace(&*parent.to_string_lossy(), "/pwd");
        return o.code == Some(0) && out.trim() == String::from_utf8_lossy(&expected).trim();
    }
    if flags.is_empty() {
        flags = vec!["--eval".into(), "--strict".into()];
        if expected_error.is_none() {
            flags.push("--show-trace".into());
        }
    }
    flags.push(rel);
    let o = run(&flags, parent, &base, None);
    matches!(o.code, Some(c) if c != 0) && error_ok(&o)
}

fn cases(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read suite")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|f| {
            f.ends_with(".nix")
                && ["eval-okay-", "eval-fail-", "parse-okay-", "parse-fail-"]
                    .iter()
                    .any(|p| f.starts_with(p))
        })
        .map(|f| f.trim_end_matches(".nix").to_owned())
        // eval-okay cases without an expected output are skipped upstream.
        .filter(|n| {
            !n.starts_with("eval-okay")
                || dir.join(format!("{n}.exp")).exists()
                || dir.join(format!("{n}.exp.xml")).exists()
        })
        .collect();
    v.sort();
    v
}

fn failures(dir: &Path, check_errors: bool) -> (usize, BTreeSet<String>) {
    let all = cases(dir);
    let n = all.len();
    let failed = std::thread::scope(|s| {
        let chunks: Vec<Vec<String>> = all
            .chunks(all.len().div_ceil(2).max(1))
            .map(|c| c.to_vec())
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .filter(|c| !case_passes(dir, c, check_errors))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect::<BTreeSet<_>>()
    });
    (n, failed)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn our_language_cases() {
    let dir = repo().join("nix_tests/lang");
    // Every case of ours must have its expected output (no silent skips).
    for entry in std::fs::read_dir(&dir).expect("read nix_tests/lang") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if let Some(stem) = name
            .strip_prefix("eval-okay-")
            .and_then(|n| n.strip_suffix(".nix"))
        {
            assert!(
                dir.join(format!("eval-okay-{stem}.exp")).exists(),
                "nix_tests/lang/{name} has no eval-okay-{stem}.exp"
            );
        }
    }
    let (n, failed) = failures(&dir, true);
    assert!(n > 0, "no cases in {}", dir.display());
    assert!(
        failed.is_empty(),
        "failing cases of nix_tests/lang: {failed:?}"
    );
    eprintln!("nix_tests: {n} of {n} cases pass");
}

#[test]
fn upstream_language_suite() {
    let dir = std::env::var_os("NIX_LANG_TESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/upstream/nix-lang"));
    if !dir.is_dir() {
        if std::env::var_os("OXNIX_REQUIRE_FIXTURES").is_some() {
            panic!(
                "the upstream language suite is required but missing at {}",
                dir.display()
            );
        }
        eprintln!(
            "SKIPPING upstream language suite: {} not found (set NIX_LANG_TESTS)",
            dir.display()
        );
        return;
    }
    let list = repo().join("nix_tests/upstream-expected-failures.txt");
    // The expected outputs name the suite's directory `lang` (its name
    // upstream): run it through a link of that name.
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let link = tmp.path().join("lang");
    let target = std::fs::canonicalize(&dir).expect("the suite directory");
    std::os::unix::fs::symlink(&target, &link).expect("link the suite as lang");
    let (n, failed) = failures(&link, false);
    if std::env::var_os("OXNIX_UPDATE_EXPECTED").is_some() {
        let mut text = String::from(
            "# Upstream language cases oxnix does not pass yet (tests/lang.rs keeps this exact).\n",
        );
        for f in &failed {
            text.push_str(f);
            text.push('\n');
        }
        std::fs::write(&list, text).expect("write the expected failures");
    }
    let expected: BTreeSet<String> = std::fs::read_to_string(&list)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let newly_failing: Vec<_> = failed.difference(&expected).collect();
    let newly_passing: Vec<_> = expected.difference(&failed).collect();
    eprintln!("upstream suite: {} of {n} cases pass", n - failed.len());
    assert!(
        newly_failing.is_empty() && newly_passing.is_empty(),
        "newly failing: {newly_failing:?}\nnewly passing (remove from {}): {newly_passing:?}",
        list.display()
    );
}
