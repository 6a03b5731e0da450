//! The command-line corpus: whole command lines from `cli-corpus.txt`, each
//! run with our commands and with C++ Nix's, comparing stdout, the first
//! line of stderr and the exit code.
//!
//! Every case runs in a fresh directory `ROOT/cNNN` (the same path for both
//! sides, one after the other) holding a copy of `cli-fixtures/` as the
//! working directory `work/`, with a controlled environment: `HOME`,
//! `XDG_*` and `TMPDIR` inside the case directory, `NIX_CONF_DIR` an empty
//! directory, `NIX_PATH` unset, `NIX_REMOTE` empty (C++ Nix uses the local
//! store, `/nix/store`), and our store a fresh sled store in
//! `OXNIX_STORE_DIR` inside the case directory. The case line may override
//! any of these. The case directory's path is replaced by `$TMP` in both
//! outputs before comparing.
//!
//! C++ Nix writes to the machine's `/nix/store` (instantiation, `--add`), so
//! the test needs root (as CI has) or a writable store; otherwise it skips
//! (fails under `OXNIX_REQUIRE_ORACLE`). Cases that depend on the store's
//! shared state (roots, referrers) make their own unique paths, and C++
//! Nix's warnings that its database is busy are ignored.
//!
//! Cases listed in `cli-corpus-expected-differences.txt` are expected to
//! differ; the test fails when an unlisted case differs and when a listed
//! case matches (remove it from the list).
//!
//! Knobs (environment variables of `cargo test`):
//! - `OXNIX_CLI_CORPUS_FILTER=TEXT`: only the cases whose line contains TEXT;
//! - `OXNIX_CLI_CORPUS_SHOW=1`: print every case with C++ Nix's output (for
//!   reviewing what a case checks);
//! - `OXNIX_CLI_CORPUS_SELF=1`: run C++ Nix on both sides, to check that
//!   every case is deterministic (the expected differences are not used);
//! - `OXNIX_CLI_CORPUS_UPDATE=1`: rewrite the expected-differences file:
//!   drop the cases that now match, add the new ones under a group to sort;
//! - `OXNIX_CLI_CORPUS_DUMP=FILE`: write every case's two outcomes to FILE
//!   as JSON lines (for sorting differences by cause);
//! - `OXNIX_CLI_CORPUS_THREADS=N`: worker threads (default 4).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{oracle, OURS_HASH, OURS_INSTANTIATE, OURS_STORE};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/compat-tests");
const TOOLS: [&str; 3] = ["nix-instantiate", "nix-store", "nix-hash"];
/// Replaces the case directory's path in outputs, and `@WORK@` in case
/// lines is replaced by the working directory's path.
const PLACEHOLDER: &str = "$TMP";
const WORK: &str = "@WORK@";
const TIMEOUT: Duration = Duration::from_secs(30);
/// The group `OXNIX_CLI_CORPUS_UPDATE` adds new differences to.
const NEW_GROUP: &str = "new differences, reason to be written";

#[derive(Debug)]
enum Stdin {
    Null,
    /// `< FILE`, relative to the working directory.
    File(String),
    /// `<<< WORD`: the word and a newline.
    Text(String),
}

#[derive(Debug)]
enum Run {
    /// One of the three commands, run directly.
    Tool { tool: usize, args: Vec<String> },
    /// `sh: SCRIPT`: run with `bash -c`, the commands under test first on
    /// `PATH`.
    Shell(String),
}

#[derive(Debug)]
struct Case {
    line: String,
    env: Vec<(String, String)>,
    run: Run,
    stdin: Stdin,
}

/// Splits a line into words as a POSIX shell would, without expansions:
/// single quotes, double quotes (with `\\`, `\"`, `\$` and `` \` ``) and
/// backslashes. Each word comes with whether any part of it was quoted.
fn split_words(line: &str) -> Result<Vec<(String, bool)>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(words);
        }
        let (mut word, mut quoted) = (String::new(), false);
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\'' => {
                    quoted = true;
                    loop {
                        match chars.next() {
                            Some('\'') => break,
                            Some(c) => word.push(c),
                            None => return Err("unterminated '".into()),
                        }
                    }
                }
                '"' => {
                    quoted = true;
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some('\\') => match chars.next() {
                                Some(c @ ('\\' | '"' | '$' | '`')) => word.push(c),
                                Some(c) => {
                                    word.push('\\');
                                    word.push(c);
                                }
                                None => return Err("unterminated \"".into()),
                            },
                            Some(c) => word.push(c),
                            None => return Err("unterminated \"".into()),
                        }
                    }
                }
                '\\' => {
                    quoted = true;
                    word.push(chars.next().ok_or("trailing backslash")?);
                }
                c => word.push(c),
            }
        }
        words.push((word, quoted));
    }
}

fn parse_case(line: &str) -> Result<Case, String> {
    if let Some(script) = line.strip_prefix("sh:") {
        return Ok(Case {
            line: line.to_owned(),
            env: Vec::new(),
            run: Run::Shell(script.trim().to_owned()),
            stdin: Stdin::Null,
        });
    }
    // Leading `NAME=VALUE` words (the value may be quoted) set variables.
    let mut rest = split_words(line)?;
    let mut env = Vec::new();
    while let Some((w, _)) = rest.first() {
        match w.split_once('=') {
            Some((name, value))
                if !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                env.push((name.to_owned(), value.to_owned()));
                rest.remove(0);
            }
            _ => break,
        }
    }
    let (tool, _) = rest.first().ok_or("no command")?;
    let tool = TOOLS
        .iter()
        .position(|t| t == tool)
        .ok_or_else(|| format!("unknown command {tool:?}"))?;
    let mut args: Vec<(String, bool)> = rest[1..].to_vec();
    let mut stdin = Stdin::Null;
    if args.len() >= 2 {
        let (marker, quoted) = &args[args.len() - 2];
        if !quoted && (marker == "<" || marker == "<<<") {
            let word = args[args.len() - 1].0.clone();
            stdin = if marker == "<" {
                Stdin::File(word)
            } else {
                Stdin::Text(word)
            };
            args.truncate(args.len() - 2);
        }
    }
    if args
        .iter()
        .any(|(w, q)| !q && w.starts_with('<') && w.len() <= 3)
    {
        return Err("misplaced stdin marker (it must come last)".into());
    }
    Ok(Case {
        line: line.to_owned(),
        env,
        run: Run::Tool {
            tool,
            args: args.into_iter().map(|(w, _)| w).collect(),
        },
        stdin,
    })
}

fn corpus() -> Vec<Case> {
    let path = format!("{DIR}/cli-corpus.txt");
    let text = std::fs::read_to_string(&path).expect("read cli-corpus.txt");
    let mut seen = BTreeSet::new();
    let mut cases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        assert!(
            seen.insert(line.to_owned()),
            "{path}:{}: duplicate case {line}",
            n + 1
        );
        let case = parse_case(line).unwrap_or_else(|e| panic!("{path}:{}: {e}: {line}", n + 1));
        cases.push(case);
    }
    cases
}

/// The expected differences: case line → reason.
fn expected_differences() -> BTreeMap<String, String> {
    let path = format!("{DIR}/cli-corpus-expected-differences.txt");
    let text = std::fs::read_to_string(&path).expect("read the expected differences");
    let mut reason = None;
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(r) = line.strip_prefix("==") {
            reason = Some(r.trim().to_owned());
            continue;
        }
        let reason = reason
            .clone()
            .unwrap_or_else(|| panic!("{path}:{}: a case before any `== reason`", n + 1));
        assert!(
            out.insert(line.to_owned(), reason).is_none(),
            "{path}:{}: listed twice: {line}",
            n + 1
        );
    }
    out
}

/// What one side printed, with the case directory replaced by `$TMP`.
#[derive(PartialEq, Eq)]
struct Outcome {
    stdout: Vec<u8>,
    stderr: String,
    code: Option<i32>,
}

impl Outcome {
    /// The first line of stderr, skipping C++ Nix's warnings that its
    /// SQLite database is busy (parallel cases share `/nix/var/nix/db`).
    fn first_stderr_line(&self) -> &str {
        self.stderr
            .lines()
            .find(|l| !(l.starts_with("warning: error: SQLite database") && l.ends_with("is busy")))
            .unwrap_or("")
    }

    fn same_as(&self, other: &Outcome) -> bool {
        self.stdout == other.stdout
            && self.code == other.code
            && self.first_stderr_line() == other.first_stderr_line()
    }
}

struct Side {
    /// The three commands, in `TOOLS` order.
    tools: Vec<PathBuf>,
    /// A directory with the three commands under their names, for `sh:`.
    bin: PathBuf,
}

impl Side {
    fn new(tools: Vec<PathBuf>, bin: PathBuf) -> Side {
        std::fs::create_dir_all(&bin).unwrap();
        for (name, tool) in TOOLS.iter().zip(&tools) {
            std::os::unix::fs::symlink(tool, bin.join(name)).unwrap();
        }
        Side { tools, bin }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

fn replace_bytes(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Runs `case` for one side in a fresh `dir`, and removes `dir` afterwards.
fn run_case(case: &Case, side: &Side, fixtures: &Path, dir: &Path) -> Outcome {
    let _ = std::fs::remove_dir_all(dir);
    let work = dir.join("work");
    copy_tree(fixtures, &work);
    for d in ["home/.config", "etc-nix", "tmp"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let work_str = work.to_str().unwrap();
    let subst = |s: &str| s.replace(WORK, work_str);

    let mut cmd = match &case.run {
        Run::Tool { tool, args } => {
            // argv[0] is the bare name, as when a script runs it from PATH.
            let mut c = Command::new(&side.tools[*tool]);
            c.arg0(TOOLS[*tool]).args(args.iter().map(|a| subst(a)));
            c
        }
        Run::Shell(script) => {
            let mut c = Command::new("bash");
            c.arg("-c").arg(subst(script));
            c
        }
    };
    let home = dir.join("home");
    cmd.current_dir(&work)
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", side.bin.display()),
        )
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_CONFIG_DIRS", dir.join("etc-xdg"))
        .env("XDG_DATA_DIRS", dir.join("share"))
        .env("TMPDIR", dir.join("tmp"))
        .env("NIX_CONF_DIR", dir.join("etc-nix"))
        .env("NIX_REMOTE", "")
        .env("OXNIX_STORE_DIR", dir.join("oxnix-store"))
        .process_group(0);
    for (name, value) in &case.env {
        cmd.env(name, subst(value));
    }
    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    cmd.stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    match &case.stdin {
        Stdin::Null => {
            cmd.stdin(Stdio::null());
        }
        Stdin::File(f) => {
            let f = work.join(subst(f));
            cmd.stdin(std::fs::File::open(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())));
        }
        Stdin::Text(t) => {
            let p = dir.join("stdin");
            std::fs::write(&p, format!("{}\n", subst(t))).unwrap();
            cmd.stdin(std::fs::File::open(&p).unwrap());
        }
    }
    let mut child = cmd.spawn().expect("spawn");
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > TIMEOUT {
            // SAFETY: kill has no memory-safety preconditions; the group is
            // the child's own (process_group(0)).
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            break Some(-999);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let placeholder = PLACEHOLDER.as_bytes();
    let dir_bytes = dir.to_str().unwrap().as_bytes();
    let stdout = replace_bytes(
        &std::fs::read(&stdout_path).unwrap(),
        dir_bytes,
        placeholder,
    );
    let mut stderr = String::from_utf8_lossy(&replace_bytes(
        &std::fs::read(&stderr_path).unwrap(),
        dir_bytes,
        placeholder,
    ))
    .into_owned();
    if code == Some(-999) {
        stderr.insert_str(0, "(timed out)\n");
    }
    let _ = std::fs::remove_dir_all(dir);
    Outcome {
        stdout,
        stderr,
        code,
    }
}

fn show(bytes: &[u8]) -> String {
    const MAX: usize = 600;
    let s = String::from_utf8_lossy(bytes);
    if s.len() > MAX {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{:?}… ({} bytes)", &s[..end], bytes.len())
    } else {
        format!("{s:?}")
    }
}

fn describe(line: &str, ours: &Outcome, theirs: &Outcome, ours_name: &str) -> String {
    let mut s = format!("  {line}\n");
    if ours.code != theirs.code {
        s += &format!(
            "    exit code: {ours_name} {:?}, C++ {:?}\n",
            ours.code, theirs.code
        );
    }
    if ours.stdout != theirs.stdout {
        s += &format!(
            "    stdout: {ours_name} {}\n            C++ {}\n",
            show(&ours.stdout),
            show(&theirs.stdout)
        );
    }
    if ours.first_stderr_line() != theirs.first_stderr_line() {
        s += &format!(
            "    stderr: {ours_name} {:?}\n            C++ {:?}\n",
            ours.first_stderr_line(),
            theirs.first_stderr_line()
        );
    }
    s
}

fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Rewrites the expected differences: drops `now_matching`, adds
/// `new_differences` under `NEW_GROUP`.
fn update_expected(now_matching: &BTreeSet<&str>, new_differences: &[&str]) {
    let path = format!("{DIR}/cli-corpus-expected-differences.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if !now_matching.contains(line.trim()) {
            out += line;
            out.push('\n');
        }
    }
    if !new_differences.is_empty() {
        let header = format!("== {NEW_GROUP}");
        if !out.lines().any(|l| l.trim() == header) {
            if !out.ends_with("\n\n") {
                out.push('\n');
            }
            out += &header;
            out.push('\n');
            for l in new_differences {
                out += l;
                out.push('\n');
            }
        } else {
            // Append to the existing group, right after its header.
            let mut with = String::new();
            for line in out.lines() {
                with += line;
                with.push('\n');
                if line.trim() == header {
                    for l in new_differences {
                        with += l;
                        with.push('\n');
                    }
                }
            }
            out = with;
        }
    }
    std::fs::write(&path, out).unwrap();
}

#[test]
fn cli_corpus() {
    let Some(instantiate) = oracle("nix-instantiate") else {
        return;
    };
    let (Some(store), Some(hash)) = (oracle("nix-store"), oracle("nix-hash")) else {
        return;
    };
    // SAFETY: geteuid has no preconditions; access gets a valid C string.
    let writable = unsafe {
        libc::geteuid() == 0 || libc::access(c"/nix/var/nix/db".as_ptr(), libc::W_OK) == 0
    };
    if !writable {
        assert!(
            std::env::var_os("OXNIX_REQUIRE_ORACLE").is_none(),
            "the cli corpus needs to run C++ Nix as root or with a writable /nix/var/nix/db"
        );
        eprintln!("SKIPPING cli corpus: C++ Nix cannot write to the local store (run as root)");
        return;
    }
    let started = Instant::now();
    let self_check = flag("OXNIX_CLI_CORPUS_SELF");
    let filter = std::env::var("OXNIX_CLI_CORPUS_FILTER").ok();
    let threads: usize = std::env::var("OXNIX_CLI_CORPUS_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(4)
        .max(1);

    let cases: Vec<Case> = corpus()
        .into_iter()
        .filter(|c| filter.as_deref().is_none_or(|f| c.line.contains(f)))
        .collect();
    let expected = expected_differences();
    let all_lines: BTreeSet<String> = corpus().into_iter().map(|c| c.line).collect();
    let stale: Vec<&String> = expected
        .keys()
        .filter(|l| !all_lines.contains(*l))
        .collect();

    // The temp root's real path: C++ Nix prints canonical paths.
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().canonicalize().unwrap();
    let theirs = Side::new(vec![instantiate, store, hash], root_path.join("bin-cpp"));
    let ours_tools: Vec<PathBuf> = if self_check {
        theirs.tools.clone()
    } else {
        [OURS_INSTANTIATE, OURS_STORE, OURS_HASH]
            .iter()
            .map(PathBuf::from)
            .collect()
    };
    let ours = Side::new(ours_tools, root_path.join("bin-ours"));
    let ours_name = if self_check { "C++ (again)" } else { "ours" };
    let fixtures = PathBuf::from(format!("{DIR}/cli-fixtures"));

    let next = AtomicUsize::new(0);
    type Result = (Outcome, Outcome, (Duration, Duration));
    let results: Mutex<Vec<Option<Result>>> = Mutex::new((0..cases.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(i) else {
                    break;
                };
                let dir = root_path.join(format!("c{i:03}"));
                let start = Instant::now();
                let t = run_case(case, &theirs, &fixtures, &dir);
                let middle = Instant::now();
                let o = run_case(case, &ours, &fixtures, &dir);
                let times = (middle - start, middle.elapsed());
                results.lock().unwrap()[i] = Some((o, t, times));
            });
        }
    });
    let results: Vec<Result> = results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();

    let mut identical = 0;
    let mut expected_diff = 0;
    let mut unexpected = Vec::new();
    let mut now_matching = Vec::new();
    let mut shown = String::new();
    for (case, (o, t, (t_time, o_time))) in cases.iter().zip(&results) {
        if flag("OXNIX_CLI_CORPUS_SHOW") {
            shown += &format!(
                "CASE {}\n  time C++ {:.2}s, {ours_name} {:.2}s\n  exit {:?}\n  stdout {}\n  stderr {}\n",
                case.line,
                t_time.as_secs_f64(),
                o_time.as_secs_f64(),
                t.code,
                show(&t.stdout),
                show(t.stderr.as_bytes())
            );
        }
        let listed = !self_check && expected.contains_key(&case.line);
        match (o.same_as(t), listed) {
            (true, false) => identical += 1,
            (true, true) => now_matching.push(case.line.as_str()),
            (false, true) => expected_diff += 1,
            (false, false) => unexpected.push(describe(&case.line, o, t, ours_name)),
        }
    }
    if let Some(path) = std::env::var_os("OXNIX_CLI_CORPUS_DUMP") {
        let side = |o: &Outcome| {
            serde_json::json!({
                "exit": o.code,
                "stdout": String::from_utf8_lossy(&o.stdout),
                "stderr": o.stderr,
            })
        };
        let mut out = String::new();
        for (case, (o, t, _)) in cases.iter().zip(&results) {
            out += &serde_json::json!({
                "case": case.line,
                "same": o.same_as(t),
                "listed": expected.get(&case.line),
                "ours": side(o),
                "cpp": side(t),
            })
            .to_string();
            out.push('\n');
        }
        std::fs::write(path, out).unwrap();
    }
    if !shown.is_empty() {
        std::io::stderr().write_all(shown.as_bytes()).unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "cli corpus: {} cases, {identical} identical, {expected_diff} expected differences ({elapsed:.1}s)",
        cases.len()
    );
    if flag("OXNIX_CLI_CORPUS_UPDATE") && !self_check {
        let new: Vec<&str> = cases
            .iter()
            .zip(&results)
            .filter(|(c, (o, t, _))| !o.same_as(t) && !expected.contains_key(&c.line))
            .map(|(c, _)| c.line.as_str())
            .collect();
        let mut drop: BTreeSet<&str> = now_matching.iter().copied().collect();
        drop.extend(stale.iter().map(|s| s.as_str()));
        update_expected(&drop, &new);
        eprintln!(
            "cli corpus: updated the expected differences ({} added, {} removed)",
            new.len(),
            drop.len()
        );
        return;
    }
    let mut failure = String::new();
    if !unexpected.is_empty() {
        failure += &format!(
            "{} cases differ from C++ Nix and are not in cli-corpus-expected-differences.txt:\n",
            unexpected.len()
        );
        for u in &unexpected {
            failure += u;
        }
    }
    if !now_matching.is_empty() {
        failure += &format!(
            "{} cases are newly matching, remove them from cli-corpus-expected-differences.txt:\n",
            now_matching.len()
        );
        for l in &now_matching {
            failure += &format!("  {l}\n");
        }
    }
    if !stale.is_empty() && !self_check {
        failure +=
            "cases listed in cli-corpus-expected-differences.txt but not in cli-corpus.txt:\n";
        for l in &stale {
            failure += &format!("  {l}\n");
        }
    }
    assert!(failure.is_empty(), "{failure}");
}
