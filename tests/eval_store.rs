//! The evaluator reading store paths through oxnix's store: with a store
//! directory that does not exist on disk, every builtin that reads a path
//! (and `import`) must give for a stored tree what it gives for the same
//! tree on disk; contexts, read-write mode and derivation outputs behave as
//! in C++ Nix.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const NIX_STORE: &str = env!("CARGO_BIN_EXE_nix-store");
const NIX_INSTANTIATE: &str = env!("CARGO_BIN_EXE_nix-instantiate");

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let root = tmp.path().to_owned();
        Env { _tmp: tmp, root }
    }

    /// The store directory: never created on disk.
    fn store_dir(&self) -> PathBuf {
        self.root.join("nix/store")
    }

    fn command(&self, bin: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.args(args)
            .current_dir(&self.root)
            .env("OXNIX_STORE_DIR", self.root.join("oxnix"))
            .env("NIX_STORE_DIR", self.store_dir())
            .env("NIX_CONF_DIR", &self.root)
            .env("HOME", &self.root)
            .env_remove("OXNIX_STORE")
            .env_remove("NIX_STORE")
            .env_remove("NIX_PATH")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, bin: &str, args: &[&str]) -> Output {
        self.command(bin, args).output().expect("running a command")
    }

    /// Runs a command that must succeed; its stdout.
    fn ok(&self, bin: &str, args: &[&str]) -> String {
        let out = self.run(bin, args);
        assert!(
            out.status.success(),
            "{bin} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command that must fail with exit 1; its stderr.
    fn fails(&self, bin: &str, args: &[&str]) -> String {
        let out = self.run(bin, args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{bin} {args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn eval(&self, expr: &str) -> String {
        self.ok(NIX_INSTANTIATE, &["--eval", "--strict", "-E", expr])
    }
}

/// A tree using every kind of node: files (one executable), a
/// subdirectory with a Nix file, relative and absolute symlinks.
fn make_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub/deeper")).expect("tree");
    std::fs::write(dir.join("f"), "hello\n").expect("f");
    std::fs::write(dir.join("default.nix"), "{ x = 42; y = import ./sub; }\n").expect("nix");
    std::fs::write(dir.join("sub/default.nix"), "[ 1 2 ]\n").expect("nix");
    std::fs::write(dir.join("sub/deeper/g"), "deep\n").expect("g");
    std::fs::write(dir.join("exe"), "#!/bin/sh\n").expect("exe");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("exe"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::os::unix::fs::symlink("sub", dir.join("link")).expect("link");
    std::os::unix::fs::symlink("sub/deeper/../deeper/g", dir.join("link2")).expect("link2");
    std::os::unix::fs::symlink("missing", dir.join("dangling")).expect("dangling");
}

/// An expression reading `root` every way the evaluator can.
fn reads(root: &str) -> String {
    format!(
        r#"with builtins; let r = {root}; in {{
  read = readFile (r + "/f");
  readDeep = readFile (r + "/sub/deeper/g");
  readViaLink = readFile (r + "/link/deeper/g");
  readViaLink2 = readFile (r + "/link2");
  dir = readDir r;
  subdir = readDir (r + "/link");
  exists = map (p: pathExists (r + p)) [ "" "/f" "/nope" "/f/" "/f/." "/sub/" "/link/" "/dangling" "/link/../f" "/sub/deeper/../../f" ];
  types = map (p: readFileType (r + p)) [ "" "/f" "/exe" "/link" "/dangling" ];
  hash = hashFile "sha256" (r + "/f");
  hashViaLink = hashFile "md5" (r + "/link2");
  imported = import r;
  importedLink = import (r + "/link");
  copied = path {{ path = r; name = "copied"; }};
  copiedFlat = path {{ path = r + "/exe"; name = "flat"; recursive = false; }};
  filtered = path {{ path = r; name = "filtered"; filter = p: t: t != "symlink" && baseNameOf p != "exe"; }};
}}"#
    )
}

#[test]
fn store_paths_read_like_the_same_tree_on_disk() {
    let env = Env::new();
    let tree = env.root.join("tree");
    make_tree(&tree);
    let p = env.ok(NIX_STORE, &["--add", tree.to_str().expect("utf-8")]);
    let p = p.trim();
    assert!(p.starts_with(env.store_dir().to_str().expect("utf-8")));
    assert!(
        !Path::new(p).exists(),
        "the store directory must not exist on disk for this test"
    );
    let from_disk = env.eval(&reads(&format!("\"{}\"", tree.display())));
    let from_store = env.eval(&reads(&format!("\"{p}\"")));
    assert_eq!(from_store, from_disk);
    // Errors name the same things.
    for (expr, message) in [
        (
            "readFile (r + \"/sub\")",
            "reading from file: Is a directory",
        ),
        ("readDir (r + \"/f\")", "Not a directory"),
        ("readFile (r + \"/nope\")", "No such file or directory"),
        ("readFile (r + \"/f/x\")", "Not a directory"),
    ] {
        for root in [tree.to_str().expect("utf-8"), p] {
            let e = format!("with builtins; let r = \"{root}\"; in {expr}");
            let err = env.fails(NIX_INSTANTIATE, &["--eval", "-E", &e]);
            assert!(err.contains(message), "{e}: {err}");
        }
    }
    // A symlink on disk into the store (a `result` link) is followed.
    std::os::unix::fs::symlink(p, env.root.join("result")).expect("result link");
    let out = env.eval("builtins.readFile ./result/link/deeper/g");
    assert_eq!(out, "\"deep\\n\"\n");
    // A source copied from a path in the store is written to the store.
    let drv = env.ok(
        NIX_INSTANTIATE,
        &[
            "-E",
            &format!(
                "derivation {{ name = \"d\"; system = \"x\"; builder = \"/bin/sh\"; src = {p}/sub; }}"
            ),
        ],
    );
    let refs = env.ok(NIX_STORE, &["-q", "--references", drv.trim()]);
    let src = refs.lines().next().expect("a reference");
    assert!(src.ends_with("-sub"), "{refs}");
    let listed = env.eval(&format!("builtins.readDir {src}"));
    assert_eq!(
        listed,
        "{ deeper = \"directory\"; \"default.nix\" = \"regular\"; }\n"
    );
}

#[test]
fn evaluation_reads_what_it_adds_in_read_write_mode() {
    let env = Env::new();
    let both = r#"let f = builtins.toFile "f" "x"; g = builtins.toFile "g" "see ${f}"; in { text = builtins.readFile g; context = builtins.getContext (builtins.readFile g); dir = builtins.readFileType g; }"#;
    let out = env.ok(
        NIX_INSTANTIATE,
        &["--eval", "--strict", "--read-write-mode", "-E", both],
    );
    assert!(out.contains("text = \"see "), "{out}");
    assert!(out.contains("-f\" = { path = true; }"), "{out}");
    assert!(out.contains("dir = \"regular\""), "{out}");
    // Written for good: valid afterwards.
    let g = env.eval(r#"builtins.toFile "g" "see ${builtins.toFile "f" "x"}""#);
    let g = g.trim().trim_matches('"');
    env.ok(NIX_STORE, &["--check-validity", g]);
    // Read-only mode (plain --eval) writes nothing: C++ Nix's error.
    let err = env.fails(
        NIX_INSTANTIATE,
        &[
            "--eval",
            "-E",
            r#"builtins.readFile (builtins.toFile "new" "y")"#,
        ],
    );
    assert!(err.contains("-new' is not valid"), "{err}");
    // Instantiation is read-write: a derivation may depend on a file's text.
    let drv = env.ok(
        NIX_INSTANTIATE,
        &[
            "-E",
            r#"let t = builtins.toFile "t" "abc"; in derivation { name = "uses-" + builtins.readFile t; system = "x"; builder = "/bin/sh"; }"#,
        ],
    );
    assert!(drv.trim().ends_with("-uses-abc.drv"), "{drv}");
}

#[test]
fn derivations_and_their_outputs_from_the_store() {
    let env = Env::new();
    std::fs::write(
        env.root.join("d.nix"),
        "derivation { name = \"ifd\"; system = \"x\"; builder = \"/bin/sh\"; }\n",
    )
    .expect("d.nix");
    let drv = env.ok(NIX_INSTANTIATE, &["d.nix"]);
    let drv = drv.trim();
    // The .drv, written by an earlier run, read from the store.
    let text = env.eval("builtins.readFile \"${(import ./d.nix).drvPath}\"");
    assert!(text.starts_with("\"Derive("), "{text}");
    let direct = env.eval(&format!("builtins.substring 0 7 (builtins.readFile {drv})"));
    assert_eq!(direct, "\"Derive(\"\n");
    // Its output was never built: oxnix cannot build it.
    let err = env.fails(
        NIX_INSTANTIATE,
        &["--eval", "-E", "builtins.readFile (import ./d.nix)"],
    );
    assert!(
        err.contains("not yet supported by oxnix: building"),
        "{err}"
    );
    let err = env.fails(
        NIX_INSTANTIATE,
        &[
            "--eval",
            "--option",
            "allow-import-from-derivation",
            "false",
            "-E",
            "builtins.readFile (import ./d.nix)",
        ],
    );
    assert!(
        err.contains("because the option 'allow-import-from-derivation' is disabled"),
        "{err}"
    );
}
