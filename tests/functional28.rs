//! C++ Nix 2.8's own functional test scripts, run against our
//! `nix-instantiate`, `nix-store` and `nix-hash`.
//!
//! The suite is read from `../shared/upstream/nix-functional-2.8` (or
//! `$NIX_FUNCTIONAL_TESTS`) and copied into a temporary directory, where
//! `common.sh.in` and `config.nix.in` are filled in as C++ Nix's build does.
//! Before each script, `init.sh` creates a fresh store with C++ Nix's
//! commands (it checks for C++ Nix's `db.sqlite`); the script then runs with
//! `bash -e` and our three commands first on `PATH`, C++ Nix's other tools
//! (`nix`, `nix-env`, ...) behind them. Our commands run through wrapper
//! scripts that copy their stderr to `stderr.SCRIPT`: a script whose run made
//! us reject a flag is *hollow* (a `(! cmd …)` line passes when `cmd` merely
//! refuses a flag) and counts as a failure.
//!
//! The scripts that do not pass must be exactly those listed in
//! `nix_tests/functional28-expected-failures.txt`. `KEEP=1` keeps the
//! temporary directory (logs in `log.SCRIPT`) when the test fails. Missing
//! suite or oracle (C++ Nix in `$NIX_ORACLE_BIN`, default `/usr/bin`) skips
//! the test unless `OXNIX_REQUIRE_FIXTURES` / `OXNIX_REQUIRE_ORACLE` is set.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The scripts that need no builder, and two whose builds C++ Nix's
/// `nix-build` does: `signing` (keys from our
/// `--generate-binary-cache-key`) and `nix-copy-ssh` (C++ Nix's `nix copy`
/// to and from `ssh://localhost`, which runs our `nix-store --serve`); in
/// the order they run.
const SCRIPTS: &[&str] = &[
    "lang",
    "hash",
    "add",
    "case-hack",
    "eval",
    "misc",
    "nix_path",
    "restricted",
    "function-trace",
    "pure-eval",
    "fetchurl",
    "signing",
    "nix-copy-ssh",
];
const OURS: &[&str] = &["nix-instantiate", "nix-store", "nix-hash"];
/// Our messages for a flag we do not handle (matched ignoring case).
const HOLLOW_MARKS: &[&str] = &[
    "unrecognised flag",
    "unexpected argument '-",
    "not supported yet",
];
const INIT_TIMEOUT: Duration = Duration::from_secs(60);
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn suite_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("NIX_FUNCTIONAL_TESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/upstream/nix-functional-2.8"));
    if dir.join("common.sh.in").is_file() {
        return Some(dir);
    }
    if std::env::var_os("OXNIX_REQUIRE_FIXTURES").is_some() {
        panic!(
            "C++ Nix's functional tests are required but missing at {}",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPING functional28: {} not found (set NIX_FUNCTIONAL_TESTS)",
        dir.display()
    );
    None
}

/// The directory of C++ Nix's commands, or `None` (after saying so) to skip.
fn oracle_dir() -> Option<PathBuf> {
    let dir =
        PathBuf::from(std::env::var_os("NIX_ORACLE_BIN").unwrap_or_else(|| "/usr/bin".into()));
    let ok = Command::new(dir.join("nix-store"))
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("(Nix)"));
    if ok {
        return Some(dir);
    }
    if std::env::var_os("OXNIX_REQUIRE_ORACLE").is_some() {
        panic!(
            "C++ Nix oracle {}/nix-store is required but missing",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPING functional28: C++ Nix's nix-store not found in {} (apt-get install nix-bin)",
        dir.display()
    );
    None
}

/// The temporary directory; removed on drop (store paths are read-only)
/// unless `keep` is set.
struct Work {
    path: PathBuf,
    keep: bool,
}

impl Drop for Work {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept work directory {}", self.path.display());
        } else {
            let _ = Command::new("chmod")
                .arg("-R")
                .arg("u+w")
                .arg(&self.path)
                .status();
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

fn sh(cmd: &mut Command) {
    let status = cmd.status().expect("spawn a setup command");
    assert!(status.success(), "{cmd:?} failed");
}

/// `template` with the placeholders C++ Nix's build fills in.
fn fill(template: &Path, bindir: &Path) -> String {
    fs::read_to_string(template)
        .expect("read a template")
        .replace("@bindir@", &bindir.to_string_lossy())
        .replace("@coreutils@", "/usr/bin")
        .replace("@dot@", "")
        .replace("@bash@", "/bin/bash")
        .replace("@sandbox_shell@", "")
        .replace("@PACKAGE_VERSION@", "2.8.0")
        .replace("@system@", "x86_64-linux")
}

/// Lays out `w`: `tests/` (the filled-in suite), `bin/` (ours before the
/// oracle's other tools), `cbin/` (the oracle's), `tmp/` and the
/// `src/nix-channel/` that `restricted.sh` reads.
fn prepare(w: &Path, suite: &Path, oracle: &Path) {
    let tests = w.join("tests");
    sh(Command::new("cp").arg("-r").arg(suite).arg(&tests));
    sh(Command::new("chmod").arg("-R").arg("u+w").arg(&tests));
    for d in ["src/nix-channel", "bin", "cbin", "tmp"] {
        fs::create_dir_all(w.join(d)).expect("mkdir");
    }
    fs::write(w.join("src/nix-channel/unpack-channel.nix"), "").expect("write");
    for entry in fs::read_dir(oracle).expect("read the oracle's directory") {
        let name = entry.expect("a directory entry").file_name();
        if name.to_string_lossy().starts_with("nix") {
            let target = oracle.join(&name);
            symlink(&target, w.join("cbin").join(&name)).expect("link");
            if !OURS.contains(&&*name.to_string_lossy()) {
                symlink(&target, w.join("bin").join(&name)).expect("link");
            }
        }
    }
    let ours = Path::new(env!("CARGO_BIN_EXE_nix-store"))
        .parent()
        .expect("bin dir");
    for cmd in OURS {
        let wrapper = w.join("bin").join(cmd);
        let stderr_log = w.join("stderr.");
        fs::write(
            &wrapper,
            format!(
                "#!/bin/bash\n\"{}\" \"$@\" 2> >(tee -a \"{}$TEST_NAME\" >&2); rc=$?; wait; exit $rc\n",
                ours.join(cmd).display(),
                stderr_log.display()
            ),
        )
        .expect("write a wrapper");
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let common = fill(&tests.join("common.sh.in"), &w.join("bin"))
        + "export OXNIX_STORE_DIR=$NIX_STATE_DIR/oxnix\n";
    fs::write(tests.join("common.sh"), common).expect("write common.sh");
    let config = fill(&tests.join("config.nix.in"), &w.join("bin"));
    fs::write(tests.join("config.nix"), config).expect("write config.nix");
    let init = fill(&tests.join("common.sh.in"), &w.join("cbin"));
    fs::write(tests.join("common-init.sh"), init).expect("write common-init.sh");
    let init_sh: String = fs::read_to_string(tests.join("init.sh"))
        .expect("read init.sh")
        .lines()
        .map(|l| match l {
            "source common.sh" => "source common-init.sh\n".to_owned(),
            _ => format!("{l}\n"),
        })
        .collect();
    assert!(
        init_sh.contains("common-init.sh"),
        "init.sh sources common.sh no more"
    );
    fs::write(tests.join("init-oracle.sh"), init_sh).expect("write init-oracle.sh");
}

/// Runs `bash -e script` in `w/tests` with its output in `log`; true when
/// it exits with 0 within `timeout` (else its process group is killed).
fn run_script(w: &Path, name: &str, script: &str, log: &Path, timeout: Duration) -> bool {
    let log = fs::File::create(log).expect("create a log");
    let mut cmd = Command::new("bash");
    cmd.arg("-e")
        .arg(script)
        .current_dir(w.join("tests"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup the log"))
        .stderr(log)
        .process_group(0);
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("NIX_") || key_str.starts_with("OXNIX_") {
            cmd.env_remove(&key);
        }
    }
    let tmp = w.join("tmp");
    cmd.env("NIX_REMOTE", "")
        .env("TEST_NAME", name)
        .env("TEST_ROOT", tmp.join("nix-test").join(name))
        .env("TMPDIR", &tmp);
    let mut child = cmd.spawn().expect("spawn bash");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for bash") {
            return status.success();
        }
        if start.elapsed() > timeout {
            // SAFETY: kill(2) on the process group we created.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last `n` lines of the file at `path`, or "(empty)".
fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    match lines[lines.len().saturating_sub(n)..].join("\n") {
        t if t.trim().is_empty() => "(empty)".to_owned(),
        t => t,
    }
}

fn expected_failures(list: &Path) -> BTreeSet<String> {
    fs::read_to_string(list)
        .unwrap_or_else(|e| panic!("read {}: {e}", list.display()))
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn functional_scripts_of_nix_2_8() {
    let (Some(suite), Some(oracle)) = (suite_dir(), oracle_dir()) else {
        return;
    };
    let list = repo().join("nix_tests/functional28-expected-failures.txt");
    let expected = expected_failures(&list);
    let unknown: Vec<_> = expected
        .iter()
        .filter(|s| !SCRIPTS.contains(&s.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "{} lists unknown scripts {unknown:?}",
        list.display()
    );

    let dir = tempfile::Builder::new()
        .prefix("functional28.")
        .tempdir()
        .expect("a temporary directory");
    let mut work = Work {
        path: dir.keep(),
        keep: false,
    };
    let w = work.path.clone();
    prepare(&w, &suite, &oracle);

    let mut problems = Vec::new();
    let mut passed = 0;
    for &name in SCRIPTS {
        let log = w.join(format!("log.{name}"));
        let stderr_log = w.join(format!("stderr.{name}"));
        let status = if !run_script(&w, name, "init-oracle.sh", &log, INIT_TIMEOUT) {
            format!("INIT-FAIL: {}", tail(&log, 1))
        } else if !run_script(&w, name, &format!("{name}.sh"), &log, SCRIPT_TIMEOUT) {
            "FAIL".to_owned()
        } else {
            let ours = fs::read_to_string(&stderr_log)
                .unwrap_or_default()
                .to_lowercase();
            match HOLLOW_MARKS.iter().find(|m| ours.contains(*m)) {
                Some(mark) => format!("HOLLOW ({mark})"),
                None => "PASS".to_owned(),
            }
        };
        eprintln!("functional28: {name} {status}");
        let listed = expected.contains(name);
        if status == "PASS" {
            passed += 1;
            if listed {
                problems.push(format!("newly passing: {name}, remove it from the list"));
            }
        } else if !listed {
            problems.push(format!(
                "{name} {status}\n--- last lines of log.{name}:\n{}\n--- last lines of our stderr:\n{}",
                tail(&log, 20),
                tail(&stderr_log, 20)
            ));
        }
    }
    eprintln!("functional28: {passed} of {} scripts pass", SCRIPTS.len());
    if !problems.is_empty() {
        work.keep = std::env::var_os("KEEP").is_some_and(|v| v == "1");
        let hint = if work.keep {
            ""
        } else {
            "; KEEP=1 keeps the logs"
        };
        panic!(
            "scripts changed state (expected failures: {}{hint}):\n\n{}",
            list.display(),
            problems.join("\n\n")
        );
    }
}
