//! oxnix on C++ Nix's local store (`store::local`), checked against C++
//! Nix 2.8 itself on a throwaway chroot store (`--store local?root=DIR`):
//! paths we add are valid to C++ Nix and identical; paths C++ Nix adds are
//! valid to us; both writing at the same time lose nothing; whole-store
//! operations and `nix-store --serve` give what C++ Nix gives on an
//! identical copy of a store, and C++ Nix's `nix copy` works through our
//! `--serve`. Skipped with
//! a message without `nix-store` (C++), failing instead under
//! `OXNIX_REQUIRE_SERVICES=1`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use oxnix::hash::{HashAlgo, HashFormat};
use oxnix::store::local::{LocalConfig, LocalStore};
use oxnix::store_path::{IngestionMethod, StoreDir, StorePath};

/// C++ Nix's `nix-store`, if installed.
fn cpp_nix_store() -> Option<PathBuf> {
    let found = [
        "/usr/bin/nix-store",
        "/nix/var/nix/profiles/default/bin/nix-store",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() {
        if std::env::var_os("OXNIX_REQUIRE_SERVICES").is_some() {
            panic!("C++ Nix's nix-store is required (OXNIX_REQUIRE_SERVICES=1)");
        }
        eprintln!("skipped: C++ Nix's nix-store is not installed");
    }
    found
}

fn config(root: &Path) -> LocalConfig {
    LocalConfig::chroot(StoreDir::default(), root.to_owned())
}

/// Runs C++ Nix's nix-store on the chroot store at `root`.
fn cpp(bin: &Path, root: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .arg("--store")
        .arg(format!("local?root={}", root.display()))
        .args(args)
        .env_remove("NIX_REMOTE")
        .env_remove("NIX_STORE_DIR")
        .env_remove("NIX_STATE_DIR")
        .output()
        .expect("running C++ nix-store");
    assert!(
        out.status.success(),
        "C++ nix-store {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn make_tree(dir: &Path, tag: &str) {
    std::fs::create_dir_all(dir.join("sub")).expect("tree");
    std::fs::write(dir.join("a"), format!("file a {tag}\n")).expect("a");
    std::fs::write(dir.join("sub/b"), vec![b'x'; 100_000]).expect("b");
    std::fs::write(dir.join("exe"), "#!/bin/sh\n").expect("exe");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("exe"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::os::unix::fs::symlink("sub/b", dir.join("link")).expect("link");
}

#[test]
fn paths_we_add_are_valid_and_identical_to_cpp_nix() {
    let Some(bin) = cpp_nix_store() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let tree = tmp.path().join("tree");
    make_tree(&tree, "ours");
    let store = LocalStore::open(config(&root)).expect("open");
    let p = store
        .add_path(&tree, "tree", IngestionMethod::Recursive, HashAlgo::Sha256)
        .expect("add");
    let printed = store.print(&p);
    // C++ Nix computes the same path for the same tree.
    let theirs = cpp(&bin, &root, &["--add", tree.to_str().expect("utf-8")]);
    assert_eq!(theirs.trim(), printed);
    let info = store.query(&p).expect("query");
    assert_eq!(
        cpp(&bin, &root, &["-q", "--hash", &printed]).trim(),
        info.nar_hash.to_string_with(HashFormat::Nix32)
    );
    assert_eq!(
        cpp(&bin, &root, &["-q", "--size", &printed]).trim(),
        info.nar_size.to_string()
    );
    // Texts with references, and a derivation, registered in one go.
    let text = b"hello".to_vec();
    let dir = StoreDir::default();
    let t = dir
        .text_path("greeting", &text, &BTreeSet::new())
        .expect("text path");
    let refs: BTreeSet<StorePath> = [t.clone(), p.clone()].into_iter().collect();
    let body = format!("see {} and {}", store.print(&t), printed).into_bytes();
    let u = dir.text_path("user", &body, &refs).expect("text path");
    store
        .add_texts(&[
            (t.clone(), text.clone(), BTreeSet::new()),
            (u.clone(), body.clone(), refs.clone()),
        ])
        .expect("add texts");
    let cpp_refs: BTreeSet<String> = cpp(&bin, &root, &["-q", "--references", &store.print(&u)])
        .lines()
        .map(str::to_owned)
        .collect();
    let our_refs: BTreeSet<String> = refs.iter().map(|r| store.print(r)).collect();
    assert_eq!(cpp_refs, our_refs);
    assert_eq!(
        cpp(&bin, &root, &["-q", "--hash", &store.print(&u)]).trim(),
        store
            .query(&u)
            .expect("query")
            .nar_hash
            .to_string_with(HashFormat::Nix32)
    );
    // Everything verifies with C++ Nix's own check of contents.
    cpp(&bin, &root, &["--verify", "--check-contents"]);
    // And dumps byte for byte the same (C++ Nix 2.8's `--dump` of a
    // chroot store reads the unprefixed path: its dump of the real path).
    let ours = store.nar(&p, Vec::new()).expect("nar");
    let out = Command::new(&bin)
        .arg("--dump")
        .arg(store.real_path(&p))
        .output()
        .expect("dump");
    assert!(
        out.stdout == ours,
        "dumps differ: C++ {} bytes, ours {} bytes",
        out.stdout.len(),
        ours.len()
    );
}

/// `nix-store --add` and `--add-fixed` of what is already valid (C++
/// Nix added it) print the path and succeed, as a second add does: the
/// copy is skipped, and a copy cut short no longer ends the process with
/// SIGPIPE (the command's own SIGPIPE is the default, for `| head`).
#[test]
fn adding_again_what_is_valid_succeeds() {
    let Some(bin) = cpp_nix_store() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let tree = tmp.path().join("tree");
    make_tree(&tree, "again");
    let file = tree.join("a");
    let address = format!("local?root={}", root.display());
    for args in [
        vec!["--add", tree.to_str().expect("utf-8")],
        vec!["--add-fixed", "sha256", file.to_str().expect("utf-8")],
        vec![
            "--add-fixed",
            "--recursive",
            "sha1",
            tree.to_str().expect("utf-8"),
        ],
    ] {
        let theirs = cpp(&bin, &root, &args);
        for _ in 0..2 {
            let out = Command::new(env!("CARGO_BIN_EXE_nix-store"))
                .arg("--store")
                .arg(&address)
                .args(&args)
                .env_remove("NIX_REMOTE")
                .env_remove("OXNIX_STORE")
                .env_remove("OXNIX_STORE_DIR")
                .output()
                .expect("running our nix-store");
            assert_eq!(
                out.status.code(),
                Some(0),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout), theirs, "{args:?}");
        }
    }
    cpp(&bin, &root, &["--verify", "--check-contents"]);
}

#[test]
fn paths_cpp_nix_adds_are_valid_to_us() {
    let Some(bin) = cpp_nix_store() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let tree = tmp.path().join("tree");
    make_tree(&tree, "theirs");
    let printed = cpp(&bin, &root, &["--add", tree.to_str().expect("utf-8")]);
    let printed = printed.trim();
    let store = LocalStore::open(config(&root)).expect("open");
    let p = store.store_dir.parse_path(printed).expect("a store path");
    let info = store.query(&p).expect("valid to us");
    assert_eq!(
        cpp(&bin, &root, &["-q", "--hash", printed]).trim(),
        info.nar_hash.to_string_with(HashFormat::Nix32)
    );
    let nar = store.nar(&p, Vec::new()).expect("nar");
    assert_eq!(
        oxnix::hash::Hash::of_bytes(HashAlgo::Sha256, &nar),
        info.nar_hash
    );
    assert!(info
        .ca
        .as_deref()
        .unwrap_or("")
        .starts_with("fixed:r:sha256:"));
    // Deleting it here is seen by C++ Nix.
    store
        .delete(&[p.clone()].into_iter().collect())
        .expect("delete");
    let out = Command::new(&bin)
        .arg("--store")
        .arg(format!("local?root={}", root.display()))
        .args(["--check-validity", printed])
        .output()
        .expect("check");
    assert!(!out.status.success());
}

#[test]
fn cpp_nix_and_oxnix_writing_at_once_lose_nothing() {
    let Some(bin) = cpp_nix_store() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    // Create the store first, as C++ Nix would find it.
    drop(LocalStore::open(config(&root)).expect("open"));
    let n = 12;
    let mut trees = Vec::new();
    for i in 0..n {
        let t = tmp.path().join(format!("t{i}"));
        make_tree(&t, &format!("{i}"));
        trees.push(t);
    }
    // C++ Nix adds every tree while we add them too (same paths, in the
    // opposite order), from several threads of ours.
    let mut cpp_children = Vec::new();
    for t in &trees {
        cpp_children.push(
            Command::new(&bin)
                .arg("--store")
                .arg(format!("local?root={}", root.display()))
                .args(["--add", t.to_str().expect("utf-8")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn C++"),
        );
    }
    let ours: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = trees
            .iter()
            .rev()
            .map(|t| {
                let root = root.clone();
                s.spawn(move || {
                    let store = LocalStore::open(config(&root)).expect("open");
                    let name = t.file_name().and_then(|n| n.to_str()).expect("name");
                    let p = store
                        .add_path(t, name, IngestionMethod::Recursive, HashAlgo::Sha256)
                        .expect("add");
                    store.print(&p)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for c in cpp_children {
        let out = c.wait_with_output().expect("C++ add");
        assert!(
            out.status.success(),
            "C++: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = LocalStore::open(config(&root)).expect("open");
    for p in &ours {
        let sp = store.store_dir.parse_path(p).expect("path");
        assert!(store.is_valid(&sp).expect("valid"), "{p}");
    }
    cpp(&bin, &root, &["--verify", "--check-contents"]);
}

/// Our `nix-store`.
const OUR_NIX_STORE: &str = env!("CARGO_BIN_EXE_nix-store");

/// A configuration directory for C++ Nix without substituters (so that a
/// repair fails at once, as ours does).
fn conf_dir(tmp: &Path) -> PathBuf {
    let conf = tmp.join("conf");
    std::fs::create_dir_all(&conf).expect("conf");
    std::fs::write(conf.join("nix.conf"), "substituters =\n").expect("nix.conf");
    conf
}

/// Runs `bin` (C++'s or ours) on the chroot store at `root`: exit code,
/// stdout, stderr (with `root` written as `ROOT`).
fn run_on(bin: &Path, root: &Path, conf: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin)
        .arg("--store")
        .arg(format!("local?root={}", root.display()))
        .args(args)
        .env_remove("NIX_REMOTE")
        .env_remove("NIX_STORE_DIR")
        .env_remove("NIX_STATE_DIR")
        .env_remove("OXNIX_STORE")
        .env_remove("OXNIX_STORE_DIR")
        .env("NIX_CONF_DIR", conf)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running nix-store");
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(&root.display().to_string(), "ROOT");
    (out.status.code(), clean(&out.stdout), clean(&out.stderr))
}

/// C++ Nix on `theirs` and we on `ours` (an identical copy) give the same
/// output and exit code.
fn same_on_copies(bin: &Path, theirs: &Path, ours: &Path, conf: &Path, args: &[&str]) -> String {
    let t = run_on(bin, theirs, conf, args);
    let o = run_on(Path::new(OUR_NIX_STORE), ours, conf, args);
    assert_eq!(o, t, "nix-store {args:?}: ours (left) vs C++ (right)");
    t.1
}

/// The entries of a store directory (with `.links`'s).
fn entries(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for sub in ["nix/store", "nix/store/.links"] {
        for e in std::fs::read_dir(root.join(sub)).expect("store") {
            let e = e.expect("entry");
            out.insert(format!("{sub}/{}", e.file_name().to_string_lossy()));
        }
    }
    out
}

/// Copies a store (`cp -a`, which keeps the directory order of an ext4
/// directory the same: our collector visits the store in directory order,
/// as C++ Nix's).
fn copy_store(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(st.success());
}

/// A store made by C++ Nix: trees, texts referring to each other, a
/// derivation, a root, a file that is no store path.
fn populated_store(bin: &Path, tmp: &Path, root: &Path) -> Vec<String> {
    let tag = format!("{}-{}", std::process::id(), tmp.display().to_string().len());
    let src = tmp.join("src");
    std::fs::create_dir_all(&src).expect("src");
    let mut paths = Vec::new();
    for i in 0..3 {
        let t = src.join(format!("t{i}"));
        make_tree(&t, &format!("{i} {tag}"));
        // Shared contents, for --optimise.
        std::fs::write(t.join("same"), format!("same {tag}\n")).expect("same");
        paths.push(
            cpp(bin, root, &["--add", t.to_str().expect("utf-8")])
                .trim()
                .to_owned(),
        );
    }
    let expr = format!(
        r#"let dep = builtins.toFile "dep-{tag}" "dep"; top = builtins.toFile "top-{tag}" "uses ${{dep}}"; in (derivation {{ name = "d-{tag}"; system = "x"; builder = top; }}).drvPath + " " + top"#
    );
    let out = Command::new("/usr/bin/nix-instantiate")
        .arg("--store")
        .arg(format!("local?root={}", root.display()))
        .args(["--eval", "--read-write-mode", "-E", &expr])
        .env_remove("NIX_REMOTE")
        .output()
        .expect("nix-instantiate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_matches('"')
        .to_owned();
    paths.extend(text.split(' ').map(str::to_owned));
    // paths: t0, t1, t2, drv, top. A root for t0 and for the derivation.
    cpp(
        bin,
        root,
        &[
            "--add-root",
            tmp.join("zz-root-t0").to_str().expect("utf-8"),
            "-r",
            &paths[0],
        ],
    );
    // A direct root for the derivation (whose outputs are not built).
    std::os::unix::fs::symlink(&paths[3], root.join("nix/var/nix/gcroots/drv")).expect("root");
    std::fs::write(root.join("nix/store/not-a-store-path"), "junk").expect("junk");
    paths
}

/// A store C++ Nix made ([`populated_store`]) and an identical copy of
/// it, in a temporary directory, with a configuration directory.
struct Copies {
    _tmp: tempfile::TempDir,
    conf: PathBuf,
    theirs: PathBuf,
    ours: PathBuf,
    paths: Vec<String>,
}

fn copies(bin: &Path) -> Copies {
    let tmp = tempfile::tempdir().expect("tmp");
    let conf = conf_dir(tmp.path());
    let theirs = tmp.path().join("s-theirs");
    let paths = populated_store(bin, tmp.path(), &theirs);
    let ours = tmp.path().join("s-ours");
    copy_store(&theirs, &ours);
    Copies {
        _tmp: tmp,
        conf,
        theirs,
        ours,
        paths,
    }
}

#[test]
fn our_garbage_collector_does_what_cpp_nix_does_on_a_copy() {
    let Some(bin) = cpp_nix_store() else { return };
    let Copies {
        _tmp,
        conf,
        theirs,
        ours,
        paths,
    } = copies(&bin);
    let (t0, t1, drv, top) = (&paths[0], &paths[1], &paths[3], &paths[4]);
    for args in [
        vec!["--gc", "--print-roots"],
        vec!["--gc", "--print-live"],
        vec!["--gc", "--print-dead"],
        vec!["-q", "--roots", t0],
        vec!["-q", "--roots", top],
        vec!["--delete", t0],
        vec!["--delete", top],
        vec!["--delete", t1],
        vec!["--delete", "--ignore-liveness", top],
        vec!["--gc", "--max-freed", "1"],
        vec!["--gc", "--print-dead"],
        vec!["--gc"],
        vec!["--gc"],
    ] {
        same_on_copies(&bin, &theirs, &ours, &conf, &args);
    }
    // The live paths stayed, the same on both.
    assert_eq!(entries(&ours), entries(&theirs));
    assert_eq!(
        run_on(&bin, &ours, &conf, &["--dump-db"]),
        run_on(&bin, &theirs, &conf, &["--dump-db"])
    );
    assert!(entries(&ours)
        .iter()
        .any(|e| e.ends_with(&t0[t0.len() - 20..])));
    assert!(entries(&ours)
        .iter()
        .any(|e| e.ends_with(&drv[drv.len() - 20..])));
    cpp(&bin, &ours, &["--verify", "--check-contents"]);
}

#[test]
fn verify_optimise_and_registrations_do_what_cpp_nix_does_on_a_copy() {
    let Some(bin) = cpp_nix_store() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let conf = conf_dir(tmp.path());
    let theirs = tmp.path().join("s-theirs");
    let paths = populated_store(&bin, tmp.path(), &theirs);
    std::fs::remove_file(theirs.join("nix/store/not-a-store-path")).expect("rm");
    let ours = tmp.path().join("s-ours");
    copy_store(&theirs, &ours);
    let both = |args: &[&str]| same_on_copies(&bin, &theirs, &ours, &conf, args);
    both(&["--verify", "--check-contents"]);
    both(&["--optimise"]);
    both(&["--optimise"]);
    assert_eq!(entries(&ours), entries(&theirs));
    cpp(&bin, &ours, &["--verify", "--check-contents"]);
    let dump = both(&["--dump-db"]);
    both(&["--dump-db", &paths[4], &paths[3]]);
    // A file changed behind the store's back, in both copies: found the
    // same way, and not repaired (no substituters).
    for root in [&theirs, &ours] {
        let t1 = root.join(&paths[1][1..]);
        let a = t1.join("a");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&t1, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::fs::write(&a, "changed\n").expect("change");
    }
    both(&["--verify", "--check-contents"]);
    both(&["--verify", "--check-contents", "--repair"]);
    both(&["--repair-path", &paths[1]]);
    // A path gone: removed from the database unless something refers to
    // it.
    for root in [&theirs, &ours] {
        std::fs::remove_dir_all(root.join(&paths[2][1..])).ok();
        let dep = std::fs::read_dir(root.join("nix/store"))
            .expect("store")
            .flatten()
            .find(|e| e.file_name().to_string_lossy().contains("-dep-"))
            .expect("dep");
        std::fs::remove_file(dep.path()).expect("rm dep");
    }
    both(&["--verify"]);
    both(&["--verify", "--repair"]);
    // --dump-db | --load-db into stores holding only the files.
    let (theirs2, ours2) = (tmp.path().join("s-theirs2"), tmp.path().join("s-ours2"));
    for (from, to) in [(&theirs, &theirs2), (&ours, &ours2)] {
        std::fs::create_dir_all(to.join("nix")).expect("mkdir");
        copy_store(&from.join("nix/store"), &to.join("nix/store"));
    }
    let load = |bin: &Path, root: &Path| {
        let mut child = Command::new(bin)
            .arg("--store")
            .arg(format!("local?root={}", root.display()))
            .arg("--load-db")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("load-db");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(dump.as_bytes())
            .expect("feed");
        assert!(child.wait().expect("load-db").success());
    };
    load(&bin, &theirs2);
    load(Path::new(OUR_NIX_STORE), &ours2);
    let dumped = run_on(&bin, &ours2, &conf, &["--dump-db"]);
    assert_eq!(dumped, run_on(&bin, &theirs2, &conf, &["--dump-db"]));
    assert_eq!(dumped.1, dump);
}

/// Ends a child process when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn paths_running_processes_use_survive_our_collector() {
    let Some(bin) = cpp_nix_store() else { return };
    // A store in its own directory (not a chroot store): the paths
    // processes use are named as the store names them.
    let tmp = tempfile::tempdir().expect("tmp");
    let (store, state) = (tmp.path().join("store"), tmp.path().join("state"));
    let env = |c: &mut Command| {
        c.env("NIX_STORE_DIR", &store)
            .env("NIX_STATE_DIR", &state)
            .env("NIX_CONF_DIR", conf_dir(tmp.path()))
            .env_remove("NIX_REMOTE")
            .env_remove("OXNIX_STORE")
            .env_remove("OXNIX_STORE_DIR");
    };
    let add = |p: &Path| {
        let mut c = Command::new(&bin);
        c.arg("--add").arg(p);
        env(&mut c);
        let out = c.output().expect("add");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    };
    let dir = tmp.path().join("cwd-dir");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("f"), "a directory a process works in").expect("f");
    let file = tmp.path().join("open-file");
    std::fs::write(&file, "a file a process has open").expect("file");
    let dead = tmp.path().join("dead-file");
    std::fs::write(&dead, "nobody uses this").expect("dead");
    let (cwd_path, fd_path, dead_path) = (add(&dir), add(&file), add(&dead));
    let _cwd = Killed(
        Command::new("sleep")
            .arg("60")
            .current_dir(&cwd_path)
            .spawn()
            .expect("sleep"),
    );
    let _fd = Killed(
        Command::new("sleep")
            .arg("60")
            .stdin(std::fs::File::open(&fd_path).expect("open"))
            .spawn()
            .expect("sleep"),
    );
    let mut c = Command::new(OUR_NIX_STORE);
    c.args(["--gc", "--print-roots"]);
    env(&mut c);
    let roots = String::from_utf8_lossy(&c.output().expect("roots").stdout).into_owned();
    assert!(
        roots.contains(&format!("/cwd -> {}", cwd_path.display())),
        "{roots}"
    );
    assert!(
        roots.contains(&format!("/fd/0 -> {}", fd_path.display())),
        "{roots}"
    );
    let mut c = Command::new(OUR_NIX_STORE);
    c.arg("--gc");
    env(&mut c);
    let out = c.output().expect("gc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cwd_path.join("f").exists());
    assert!(fd_path.exists());
    assert!(!dead_path.exists());
    let mut c = Command::new(&bin);
    c.args(["--verify", "--check-contents"]);
    env(&mut c);
    assert!(c.status().expect("verify").success());
}

#[test]
fn roots_cpp_nix_sends_while_we_collect_survive() {
    let Some(bin) = cpp_nix_store() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let conf = conf_dir(tmp.path());
    // Much garbage, so that collecting it takes a while.
    let garbage = tmp.path().join("garbage");
    std::fs::create_dir_all(&garbage).expect("garbage");
    let mut files = Vec::new();
    for i in 0..3000 {
        let f = garbage.join(format!("g{i}"));
        std::fs::write(&f, format!("garbage {i}\n")).expect("g");
        files.push(f.display().to_string());
    }
    let mut args = vec!["--add"];
    args.extend(files.iter().map(String::as_str));
    cpp(&bin, &root, &args);
    let mut ours = Command::new(OUR_NIX_STORE)
        .arg("--store")
        .arg(format!("local?root={}", root.display()))
        .arg("--gc")
        .env_remove("NIX_REMOTE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("our gc");
    // Wait until the collector holds `gc.lock`: a path C++ Nix adds (and
    // exits) before then has no root left when the collector looks, and
    // is rightly garbage (so C++ Nix's collector does too).
    let gc_lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join("nix/var/nix/gc.lock"))
        .expect("gc.lock");
    let waiting = std::time::Instant::now();
    while let Ok(()) = gc_lock.try_lock_shared() {
        let _ = gc_lock.unlock();
        assert!(
            waiting.elapsed() < std::time::Duration::from_secs(60),
            "our collector never took gc.lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // Meanwhile C++ Nix adds paths: new ones, and garbage being deleted
    // (added again). Each must be there once C++ Nix says it added it.
    let mut added = Vec::new();
    let start = std::time::Instant::now();
    let mut i = 0;
    while added.len() < 40 && start.elapsed() < std::time::Duration::from_secs(60) {
        let new = tmp.path().join(format!("new{i}"));
        std::fs::write(&new, format!("new {i}\n")).expect("new");
        let again = &files[(i * 37) % files.len()];
        let out = Command::new(&bin)
            .arg("--store")
            .arg(format!("local?root={}", root.display()))
            .args(["--add", new.to_str().expect("utf-8"), again])
            .env("NIX_CONF_DIR", &conf)
            .env_remove("NIX_REMOTE")
            .output()
            .expect("C++ add");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if i == 0 {
            // The collection was still going on.
            assert!(
                ours.try_wait().expect("wait").is_none(),
                "collected too fast"
            );
        }
        for p in String::from_utf8_lossy(&out.stdout).lines() {
            let real = root.join(p.trim_start_matches('/'));
            assert!(real.exists(), "{p} was added but is gone");
            added.push(p.to_owned());
        }
        i += 1;
    }
    let out = ours.wait_with_output().expect("our gc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("store paths deleted"), "{stdout}");
    let mut args = vec!["--check-validity"];
    args.extend(added.iter().map(String::as_str));
    cpp(&bin, &root, &args);
    cpp(&bin, &root, &["--verify", "--check-contents"]);
}

/// Runs `nix-store --store local?root=ROOT FLAGS…` (`bin`: C++'s or ours)
/// with `input` on stdin: exit code, stdout bytes, stderr (with `root`
/// written as `ROOT`).
fn serve_on(
    bin: &Path,
    root: &Path,
    conf: &Path,
    flags: &[&str],
    input: &[u8],
) -> (Option<i32>, Vec<u8>, String) {
    use std::io::Write;
    let mut child = Command::new(bin)
        .arg("--store")
        .arg(format!("local?root={}", root.display()))
        .args(flags)
        .env_remove("NIX_REMOTE")
        .env_remove("NIX_STORE_DIR")
        .env_remove("NIX_STATE_DIR")
        .env_remove("OXNIX_STORE")
        .env_remove("OXNIX_STORE_DIR")
        .env("NIX_CONF_DIR", conf)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running nix-store");
    let mut stdin = child.stdin.take().expect("stdin");
    // The server may stop reading early (an error): a broken pipe is fine.
    let _ = stdin.write_all(input);
    drop(stdin);
    let out = child.wait_with_output().expect("nix-store");
    let err = String::from_utf8_lossy(&out.stderr).replace(&root.display().to_string(), "ROOT");
    (out.status.code(), out.stdout, err)
}

/// Requests of the serve protocol, in its wire format.
#[derive(Default)]
struct Serve(Vec<u8>);

impl Serve {
    /// The client's greeting (version 2.7, as C++ Nix 2.8's client).
    fn hello() -> Serve {
        Serve::default().num(0x390c_9deb).num(0x207)
    }
    fn num(mut self, n: u64) -> Serve {
        self.0.extend_from_slice(&n.to_le_bytes());
        self
    }
    fn bytes(mut self, b: &[u8]) -> Serve {
        self = self.num(b.len() as u64);
        self.0.extend_from_slice(b);
        self.0.resize(self.0.len() + (8 - b.len() % 8) % 8, 0);
        self
    }
    fn strs(mut self, items: &[&str]) -> Serve {
        self = self.num(items.len() as u64);
        for s in items {
            self = self.bytes(s.as_bytes());
        }
        self
    }
    fn raw(mut self, b: &[u8]) -> Serve {
        self.0.extend_from_slice(b);
        self
    }
}

/// `nix-store --serve`: the same request streams give the same replies,
/// byte for byte, and the same errors and exit codes from C++ Nix 2.8 on
/// a store it made and from us on an identical copy: queries, NARs,
/// exports, closures (with a derivation's outputs), refusals without
/// `--write`, bad greetings and commands, a cut-off request; then, with
/// `--write`, a path imported in the export format and one added with its
/// NAR and path info leave the two stores registering the same paths.
#[test]
fn serve_answers_as_cpp_nix_does_on_a_copy() {
    let Some(bin) = cpp_nix_store() else { return };
    let Copies {
        _tmp,
        conf,
        theirs,
        ours,
        paths,
    } = copies(&bin);
    let (t0, t1, t2, drv, top) = (&paths[0], &paths[1], &paths[2], &paths[3], &paths[4]);
    let missing = format!("/nix/store/{}-missing", "0".repeat(32));
    let same = |flags: &[&str], input: &Serve| {
        // (A usage error names the program as invoked: its path here.)
        let mut t = serve_on(&bin, &theirs, &conf, flags, &input.0);
        t.2 = t.2.replace(&bin.display().to_string(), "nix-store");
        let mut o = serve_on(Path::new(OUR_NIX_STORE), &ours, &conf, flags, &input.0);
        o.2 = o.2.replace(OUR_NIX_STORE, "nix-store");
        assert_eq!(
            o.0, t.0,
            "exit code of {flags:?}: stderr {:?} vs {:?}",
            o.2, t.2
        );
        assert!(
            o.1 == t.1,
            "stdout of {flags:?}: {} vs {} bytes",
            o.1.len(),
            t.1.len()
        );
        assert_eq!(o.2, t.2, "stderr of {flags:?}");
        t
    };
    let queries = Serve::hello()
        .num(1)
        .num(0)
        .num(0)
        .strs(&[t0, drv, &missing])
        .num(2)
        .strs(&[t0, top, drv, &missing])
        .num(3)
        .bytes(t1.as_bytes())
        .num(5)
        .num(0)
        .strs(&[top, t0])
        .num(7)
        .num(0)
        .strs(&[top])
        .num(7)
        .num(1)
        .strs(&[drv]);
    let replied = same(&["--serve"], &queries);
    assert_eq!(replied.0, Some(0));
    assert!(replied.1.len() > 1000, "the NAR and the export");
    let refused = |cmd: u64| Serve::hello().num(cmd).num(0);
    for (flags, input) in [
        (vec!["--serve"], refused(4)),
        (vec!["--serve"], refused(6)),
        (vec!["--serve"], refused(9)),
        (vec!["--serve"], Serve::hello().num(99)),
        (vec!["--serve"], Serve::default().num(0x1234).num(0x207)),
        (vec!["--serve"], Serve::default()),
        (vec!["--serve"], Serve::hello().num(1).num(0)),
        (
            vec!["--serve"],
            Serve::hello().num(3).bytes(missing.as_bytes()),
        ),
        (vec!["--serve"], Serve::hello().num(3).bytes(b"/tmp/x")),
        (vec!["--serve", "--write", "--foo"], Serve::hello()),
        (vec!["--serve", "arg"], Serve::hello()),
        (
            vec!["--serve", "--write"],
            Serve::hello().num(1).num(1).num(0).strs(&[t0]),
        ),
    ] {
        same(&flags, &input);
    }
    // What the writes bring back: t1 as an export, t2 as a NAR with its
    // path info (a path added by `--add`: SHA-256 of its NAR as content
    // address).
    let export = Command::new(&bin)
        .arg("--store")
        .arg(format!("local?root={}", theirs.display()))
        .args(["--export", t1])
        .output()
        .expect("export")
        .stdout;
    let nar = Command::new(&bin)
        .args(["--dump", &format!("{}{t2}", theirs.display())])
        .output()
        .expect("dump")
        .stdout;
    let hash = cpp(&bin, &theirs, &["-q", "--hash", t2]).trim().to_owned();
    let nar_hash = oxnix::hash::Hash::parse_any(&hash, None).expect("hash");
    for p in [t1, t2] {
        same_on_copies(&bin, &theirs, &ours, &conf, &["--delete", p]);
    }
    let writes = Serve::hello()
        .num(4)
        .raw(&export)
        .num(9)
        .bytes(t2.as_bytes())
        .bytes(b"")
        .bytes(
            nar_hash
                .to_string_with(HashFormat::Base16)
                .split(':')
                .nth(1)
                .expect("hex")
                .as_bytes(),
        )
        .strs(&[])
        .num(0)
        .num(nar.len() as u64)
        .num(0)
        .strs(&["cache.example.org:c2lnbmF0dXJl"])
        .bytes(format!("fixed:r:{hash}").as_bytes())
        .raw(&nar);
    same(&["--serve", "--write"], &writes);
    assert_eq!(
        run_on(&bin, &ours, &conf, &["--dump-db"]),
        run_on(&bin, &theirs, &conf, &["--dump-db"])
    );
    assert_eq!(
        run_on(&bin, &ours, &conf, &["-q", "--hash", "--size", t1, t2]),
        run_on(&bin, &theirs, &conf, &["-q", "--hash", "--size", t1, t2])
    );
    let sigs = |root: &Path| {
        let db = root.join("nix/var/nix/db/db.sqlite");
        let c = rusqlite::Connection::open(db).expect("db");
        c.query_row(
            "select coalesce(sigs, ''), coalesce(ca, '') from ValidPaths where path = ?1",
            [t2],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )
        .expect("t2 registered")
    };
    assert_eq!(sigs(&ours), sigs(&theirs));
    cpp(&bin, &ours, &["--verify", "--check-contents"]);
}

/// C++ Nix's own client of the serve protocol (`ssh://` stores, as
/// `nix copy` and `nix-copy-closure` use them) against our `nix-store
/// --serve`: paths copied to it and back are valid and identical, and
/// `nix path-info` through it says what it says through C++ Nix's. The
/// `ssh` it runs is a stand-in that runs the remote command here (the
/// transport, not the server, is replaced).
#[test]
fn cpp_nix_copies_through_our_serve() {
    let Some(bin) = cpp_nix_store() else { return };
    let nix = Path::new("/usr/bin/nix");
    if !nix.exists() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let conf = conf_dir(tmp.path());
    let source = tmp.path().join("source");
    let paths = populated_store(&bin, tmp.path(), &source);
    let shim = tmp.path().join("shim");
    std::fs::create_dir_all(&shim).expect("shim");
    std::fs::write(
        shim.join("ssh"),
        "#!/bin/sh\nfor a; do last=$a; done\nexec sh -c \"$last\"\n",
    )
    .expect("ssh");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(shim.join("ssh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let path_env = format!(
        "{}:{}",
        shim.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let remote = |program: &Path, root: &Path| {
        format!(
            "ssh://fake?remote-program={}&remote-store=local?root={}",
            program.display(),
            root.display()
        )
    };
    let nix_cmd = |args: &[&str]| {
        let out = Command::new(nix)
            .args(["--extra-experimental-features", "nix-command"])
            .args(args)
            .env("PATH", &path_env)
            .env("NIX_CONF_DIR", &conf)
            .env_remove("NIX_REMOTE")
            .env_remove("OXNIX_STORE")
            .env_remove("OXNIX_STORE_DIR")
            .output()
            .expect("nix");
        assert!(
            out.status.success(),
            "nix {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    let from = format!("local?root={}", source.display());
    // `top` brings its reference along. (A `.drv` would mean its outputs
    // to `nix copy`, which would build them.)
    let copied = [&paths[0], &paths[1], &paths[4]];
    for (program, root) in [(Path::new(OUR_NIX_STORE), &ours), (bin.as_path(), &theirs)] {
        let mut args = vec!["copy", "--from", &from];
        let to = remote(program, root);
        args.extend(["--to", &to]);
        args.extend(copied.iter().map(|p| p.as_str()));
        nix_cmd(&args);
    }
    assert_eq!(
        run_on(&bin, &ours, &conf, &["--dump-db"]),
        run_on(&bin, &theirs, &conf, &["--dump-db"])
    );
    cpp(&bin, &ours, &["--verify", "--check-contents"]);
    let info = |program: &Path| {
        let store = remote(program, &ours);
        let mut args = vec!["path-info", "--json", "--store", &store];
        args.extend(copied.iter().map(|p| p.as_str()));
        nix_cmd(&args)
    };
    assert_eq!(info(Path::new(OUR_NIX_STORE)), info(&bin));
    // And back, from our serve into a fresh store of C++ Nix's.
    let back = tmp.path().join("back");
    let store = remote(Path::new(OUR_NIX_STORE), &ours);
    let to = format!("local?root={}", back.display());
    let mut args = vec!["copy", "--no-check-sigs", "--from", &store, "--to", &to];
    args.extend(copied.iter().map(|p| p.as_str()));
    nix_cmd(&args);
    assert_eq!(
        run_on(&bin, &back, &conf, &["--dump-db"]),
        run_on(&bin, &theirs, &conf, &["--dump-db"])
    );
}
