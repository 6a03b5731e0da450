//! Many processes on one store: concurrent `nix-store --add`,
//! `nix-instantiate` and queries on one local store all succeed (they take
//! turns on the store's lock, or go through a process serving the store),
//! and every path they add verifies afterwards; faults (a killed add, a
//! damaged blob, a killed import or instantiation) leave nothing behind
//! or are found.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NIX_STORE: &str = env!("CARGO_BIN_EXE_nix-store");
const NIX_INSTANTIATE: &str = env!("CARGO_BIN_EXE_nix-instantiate");
const OXNIX: &str = env!("CARGO_BIN_EXE_oxnix");

const WRITERS: usize = 12;
const INSTANTIATIONS: usize = 4;
const READERS: usize = 12;

fn command(bin: &str, store: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env("OXNIX_STORE_DIR", store)
        .env_remove("OXNIX_STORE")
        .env_remove("NIX_STORE_DIR")
        .env_remove("NIX_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn spawn(mut c: Command) -> Child {
    c.spawn().expect("starting a command")
}

fn finish(what: &str, child: Child) -> Output {
    let out = child.wait_with_output().expect("waiting for a command");
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A tree of a few files, different for each `i`.
fn make_tree(dir: &Path, i: usize) -> PathBuf {
    let t = dir.join(format!("tree{i}"));
    std::fs::create_dir_all(t.join("sub")).expect("tree");
    std::fs::write(t.join("a"), format!("file a of tree {i}\n").repeat(2000)).expect("a");
    std::fs::write(t.join("sub/b"), vec![i as u8; 300_000]).expect("b");
    t
}

/// Runs writers, instantiations and readers on `store` at once; returns
/// the paths they made.
fn run_mix(work: &Path, store: &Path) -> Vec<String> {
    // One path exists before, for the readers.
    let seed = std::fs::write(work.join("seed"), "seed\n");
    seed.expect("seed");
    let mut c = command(NIX_STORE, store);
    c.arg("--add").arg(work.join("seed"));
    let seed_path = stdout_line(&finish("seeding --add", spawn(c)));

    let mut children = Vec::new();
    for i in 0..WRITERS {
        let mut c = command(NIX_STORE, store);
        c.arg("--add").arg(make_tree(work, i));
        children.push(("nix-store --add", spawn(c)));
    }
    for i in 0..INSTANTIATIONS {
        let mut c = command(NIX_INSTANTIATE, store);
        c.arg("--no-gc-warning").arg("-E").arg(format!(
            "derivation {{ name = \"d{i}\"; system = \"x\"; builder = \"/bin/sh\"; src = builtins.toFile \"s{i}\" \"{i}\"; }}"
        ));
        children.push(("nix-instantiate", spawn(c)));
    }
    for _ in 0..READERS {
        let mut c = command(NIX_STORE, store);
        c.arg("-q").arg("--hash").arg(&seed_path);
        children.push(("nix-store -q --hash", spawn(c)));
    }
    let mut made = vec![seed_path];
    for (what, child) in children {
        let out = finish(what, child);
        if what != "nix-store -q --hash" {
            made.push(stdout_line(&out));
        }
    }
    made
}

fn verify(store: &Path, paths: &[String]) {
    let mut c = command(NIX_STORE, store);
    c.arg("--verify-path").args(paths);
    finish("nix-store --verify-path", spawn(c));
    let mut c = command(NIX_STORE, store);
    c.arg("-q").arg("--hash").args(paths);
    let out = finish("nix-store -q --hash", spawn(c));
    assert_eq!(stdout_line(&out).lines().count(), paths.len());
}

#[test]
fn processes_share_a_local_store() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    let made = run_mix(work.path(), &store);
    assert_eq!(made.len(), 1 + WRITERS + INSTANTIATIONS);
    verify(&store, &made);
}

#[test]
fn processes_share_a_local_store_a_daemon_serves() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    let mut c = command(OXNIX, &store);
    c.args(["store", "daemon", "--listen", "127.0.0.1:0"]);
    let mut daemon = spawn(c);
    // The daemon holds the store; others use it through its socket.
    let socket = store.join("daemon.sock");
    let start = Instant::now();
    while !socket.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "daemon socket never appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let made = run_mix(work.path(), &store);
    verify(&store, &made);
    // SAFETY: sending SIGTERM to our own child has no preconditions.
    unsafe {
        libc::kill(daemon.id() as i32, libc::SIGTERM);
    }
    let status = daemon.wait().expect("daemon");
    assert!(status.success(), "daemon ended with {status}");
    assert!(!socket.exists(), "the daemon left its socket behind");
    // The store works without it.
    verify(&store, &made);
}

#[test]
fn a_killed_add_leaves_nothing_behind_after_the_next_start() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    let big = work.path().join("big");
    std::fs::create_dir_all(&big).expect("big");
    for i in 0..4u8 {
        std::fs::write(big.join(format!("f{i}")), vec![i; 64 << 20]).expect("file");
    }
    let mut c = command(NIX_STORE, &store);
    c.arg("--add").arg(&big);
    let mut add = spawn(c);
    // Killed while a blob is being written.
    let tmp = store.join("blobs").join("tmp");
    let start = Instant::now();
    let caught = loop {
        let busy = std::fs::read_dir(&tmp)
            .map(|d| d.count() > 0)
            .unwrap_or(false);
        if busy || start.elapsed() > Duration::from_secs(30) {
            break busy;
        }
        if add.try_wait().expect("add").is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = add.kill();
    let _ = add.wait();
    assert!(caught, "the add never had a temporary blob to kill it at");
    // The next process to open the store removes it.
    std::fs::write(work.path().join("small"), "small\n").expect("small");
    let mut c = command(NIX_STORE, &store);
    c.arg("--add").arg(work.path().join("small"));
    finish("nix-store --add", spawn(c));
    let left = std::fs::read_dir(&tmp).expect("tmp").count();
    assert_eq!(left, 0, "temporary blobs left in {}", tmp.display());
}

#[test]
fn verify_finds_a_flipped_and_a_missing_blob() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    let tree = make_tree(work.path(), 7);
    let mut c = command(NIX_STORE, &store);
    c.arg("--add").arg(&tree);
    let path = stdout_line(&finish("nix-store --add", spawn(c)));
    let verify = |flags: &[&str]| {
        let mut c = command(NIX_STORE, &store);
        c.arg("--verify").args(flags);
        c.output().expect("nix-store --verify")
    };
    assert!(verify(&["--check-contents"]).status.success());
    // The 300 kB blob of sub/b: flip one byte.
    let blob = std::fs::read_dir(store.join("blobs"))
        .expect("blobs")
        .flatten()
        .filter(|d| d.file_name() != "tmp")
        .flat_map(|d| std::fs::read_dir(d.path()).expect("blob dir").flatten())
        .map(|e| e.path())
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.len() == 300_000)
                .unwrap_or(false)
        })
        .expect("the blob of sub/b");
    let mut bytes = std::fs::read(&blob).expect("blob");
    bytes[1000] ^= 0xff;
    std::fs::write(&blob, &bytes).expect("flip");
    assert!(
        verify(&[]).status.success(),
        "without --check-contents only presence is checked"
    );
    let out = verify(&["--check-contents"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains(&format!("error: path '{path}' was modified!")),
        "{err}"
    );
    std::fs::remove_file(&blob).expect("remove");
    let out = verify(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains(&format!("error: path '{path}' is damaged: blob")),
        "{err}"
    );
}

#[test]
fn the_collector_sees_roots_and_what_they_keep() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    let run = |args: &[&str]| {
        let mut c = command(NIX_STORE, &store);
        c.args(args).current_dir(work.path());
        finish(&format!("nix-store {}", args.join(" ")), spawn(c))
    };
    std::fs::write(work.path().join("kept"), "kept\n").expect("kept");
    std::fs::write(work.path().join("loose"), "loose\n").expect("loose");
    let kept = stdout_line(&run(&["--add", "kept"]));
    let loose = stdout_line(&run(&["--add", "loose"]));
    run(&["-r", &kept, "--add-root", "root"]);
    let lines = |out: Output| -> Vec<String> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(lines(run(&["--gc", "--print-live"])), vec![kept.clone()]);
    assert_eq!(lines(run(&["--gc", "--print-dead"])), vec![loose.clone()]);
    let root = work.path().join("root");
    assert_eq!(
        lines(run(&["--gc", "--print-roots"])),
        [format!("{} -> {kept}", root.display())]
    );
    std::fs::remove_file(&root).expect("rm root");
    let mut dead = lines(run(&["--gc", "--print-dead"]));
    dead.sort();
    let mut both = vec![kept, loose];
    both.sort();
    assert_eq!(dead, both);
}

/// What a killed writer may leave that the next process to open the store
/// must have removed: temporary blobs, a half-made database, sled's
/// snapshots being generated.
fn leftovers(store: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(store.join("blobs/tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    if store.join("db.new").exists() {
        found.push(store.join("db.new"));
    }
    if let Ok(d) = std::fs::read_dir(store.join("db")) {
        found.extend(
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(".generating")),
        );
    }
    found
}

/// Kills (SIGKILL) the command `make()` starts after each of `delays`,
/// then checks that the store opens, verifies clean with its contents,
/// and holds no temporaries.
fn kill_and_verify(store: &Path, what: &str, delays: &[u64], make: &dyn Fn() -> Child) {
    for &ms in delays {
        let mut child = make();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill();
        let _ = child.wait();
        let mut c = command(NIX_STORE, store);
        c.arg("--verify").arg("--check-contents");
        let out = c.output().expect("nix-store --verify");
        assert!(
            out.status.success(),
            "after killing {what} at {ms} ms, --verify failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            leftovers(store),
            Vec::<PathBuf>::new(),
            "after killing {what} at {ms} ms"
        );
    }
}

#[test]
fn killed_imports_and_instantiations_leave_a_store_that_verifies() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    // An export of a tree of large files, made in another store.
    let other = work.path().join("other");
    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("tree");
    for i in 0..4u8 {
        let body: Vec<u8> = (0..(24u32 << 20)).map(|j| (j % 251) as u8 ^ i).collect();
        std::fs::write(tree.join(format!("sub/f{i}")), body).expect("file");
    }
    let mut c = command(NIX_STORE, &other);
    c.arg("--add").arg(&tree);
    let path = stdout_line(&finish("nix-store --add", spawn(c)));
    let export = work.path().join("export");
    let mut c = command(NIX_STORE, &other);
    c.arg("--export").arg(&path);
    let out = finish("nix-store --export", spawn(c));
    std::fs::write(&export, &out.stdout).expect("export");
    // A path of its own first, so the store exists when the kills start.
    std::fs::write(work.path().join("seed"), "seed\n").expect("seed");
    let mut c = command(NIX_STORE, &store);
    c.arg("--add").arg(work.path().join("seed"));
    finish("nix-store --add", spawn(c));

    let import = || {
        let mut c = command(NIX_STORE, &store);
        c.arg("--import")
            .stdin(std::fs::File::open(&export).expect("export"));
        spawn(c)
    };
    kill_and_verify(&store, "nix-store --import", &[30, 150, 400, 900], &import);
    let instantiate = || {
        let mut c = command(NIX_INSTANTIATE, &store);
        c.arg("--no-gc-warning").arg("-E").arg(
            "builtins.genList (i: derivation { name = \"k${toString i}\"; system = \"x\"; \
             builder = \"/bin/sh\"; src = builtins.toFile \"k${toString i}\" (toString i); }) 3000",
        );
        spawn(c)
    };
    kill_and_verify(
        &store,
        "nix-instantiate",
        &[100, 400, 900, 1500],
        &instantiate,
    );
    // Whole runs still work, and verify.
    let out = finish("nix-store --import", import());
    assert_eq!(stdout_line(&out), path);
    let out = finish("nix-instantiate", instantiate());
    assert_eq!(stdout_line(&out).lines().count(), 3000);
    let mut c = command(NIX_STORE, &store);
    c.arg("--verify").arg("--check-contents");
    finish("nix-store --verify", spawn(c));
}
