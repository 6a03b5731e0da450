//! The FUSE mount: a store (local, and served by a daemon) mounted with
//! `oxnix store mount`'s library code shows every valid path at its root,
//! each tree identical to the original (types, executable bits, sizes,
//! contents byte for byte, symlink targets), and unmounts cleanly; the
//! command itself unmounts on SIGINT. Skipped with a message where
//! `/dev/fuse` cannot be used (no device, no permission to mount).

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use oxnix::hash::HashAlgo;
use oxnix::store::daemon::{Daemon, Listen};
use oxnix::store::fuse::{Mount, MountOptions, PrefetchStats};
use oxnix::store::{Store, StoreAddress, StoreError};
use oxnix::store_path::{IngestionMethod, StoreDir};

/// Why FUSE cannot be used here, if it cannot.
fn fuse_unusable() -> Option<String> {
    match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        Ok(_) => None,
        Err(e) => Some(format!("/dev/fuse: {e}")),
    }
}

/// Mounts, or says why the test is skipped when mounting is impossible
/// here.
fn mount_or_skip(store: Store, at: &Path, options: MountOptions) -> Option<Mount> {
    match Mount::start_with(store, at, options) {
        Ok(m) => Some(m),
        Err(StoreError::Mount(e)) => {
            eprintln!("skipping the FUSE test: cannot mount here: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("a/b/c")).unwrap();
    fs::create_dir(root.join("empty")).unwrap();
    fs::write(root.join("a/b/c/deep"), b"deep\n").unwrap();
    fs::write(root.join("small"), b"small file").unwrap();
    fs::write(root.join("zero"), b"").unwrap();
    let big: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i * 31 + i / 977) as u8)
        .collect();
    fs::write(root.join("big"), &big).unwrap();
    fs::write(root.join("a/run"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("a/run"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("a/run", root.join("link")).unwrap();
    std::os::unix::fs::symlink("/nowhere/at/all", root.join("dangling")).unwrap();
    for i in 0..300 {
        fs::write(root.join(format!("a/many-{i:03}")), i.to_string()).unwrap();
    }
}

/// Compares two trees entry by entry, byte by byte.
fn assert_same_tree(ours: &Path, theirs: &Path) {
    let mut todo = vec![(ours.to_path_buf(), theirs.to_path_buf())];
    while let Some((a, b)) = todo.pop() {
        let (ma, mb) = (
            fs::symlink_metadata(&a).unwrap(),
            fs::symlink_metadata(&b).unwrap(),
        );
        assert_eq!(
            ma.file_type(),
            mb.file_type(),
            "{} vs {}",
            a.display(),
            b.display()
        );
        if ma.file_type().is_symlink() {
            assert_eq!(fs::read_link(&a).unwrap(), fs::read_link(&b).unwrap());
        } else if ma.is_file() {
            assert_eq!(ma.len(), mb.len(), "{}", a.display());
            assert_eq!(
                ma.permissions().mode() & 0o100,
                mb.permissions().mode() & 0o100,
                "executable bit of {}",
                a.display()
            );
            assert!(
                fs::read(&a).unwrap() == fs::read(&b).unwrap(),
                "contents of {}",
                a.display()
            );
        } else {
            let names = |p: &Path| {
                let mut v: Vec<_> = fs::read_dir(p)
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect();
                v.sort();
                v
            };
            let (na, nb) = (names(&a), names(&b));
            assert_eq!(na, nb, "entries of {}", a.display());
            for n in na {
                todo.push((a.join(&n), b.join(&n)));
            }
        }
    }
}

fn check_mount(store: Store, tree: &Path, file: &Path, mnt: &Path) {
    let dir_path = store
        .add_path(tree, "tree", IngestionMethod::Recursive, HashAlgo::Sha256)
        .unwrap();
    let file_path = store
        .add_path(file, "file", IngestionMethod::Recursive, HashAlgo::Sha256)
        .unwrap();
    let Some(mount) = mount_or_skip(store, mnt, MountOptions::default()) else {
        return;
    };
    let mut root: Vec<String> = fs::read_dir(mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    root.sort();
    let mut expected = vec![
        dir_path.base_name().to_owned(),
        file_path.base_name().to_owned(),
    ];
    expected.sort();
    assert_eq!(root, expected);
    assert_same_tree(&mnt.join(dir_path.base_name()), tree);
    assert_same_tree(&mnt.join(file_path.base_name()), file);
    // A read in the middle of a file (not sequential).
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs::File::open(mnt.join(dir_path.base_name()).join("big")).unwrap();
    f.seek(SeekFrom::Start(4_000_001)).unwrap();
    let mut buf = [0u8; 10];
    f.read_exact(&mut buf).unwrap();
    assert_eq!(
        &buf[..],
        &fs::read(tree.join("big")).unwrap()[4_000_001..4_000_011]
    );
    drop(f);
    // Not in the store, and not a store path at all.
    assert!(!mnt.join("00000000000000000000000000000000-x").exists());
    assert!(!mnt.join("junk").exists());
    // Read-only.
    assert!(fs::write(mnt.join(dir_path.base_name()).join("new"), b"x").is_err());
    mount.unmount().unwrap();
    assert_eq!(fs::read_dir(mnt).unwrap().count(), 0, "still mounted");
}

#[test]
fn mount_shows_store_paths_as_they_were_added() {
    if let Some(why) = fuse_unusable() {
        eprintln!("skipping the FUSE test: {why}");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    make_tree(&tree);
    let file = t.path().join("exe");
    fs::write(&file, b"an executable file").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
    let mnt = t.path().join("mnt");
    fs::create_dir(&mnt).unwrap();

    // A local sled store.
    let local = Store::open(
        &StoreAddress::Sled(t.path().join("store")),
        StoreDir::default(),
    )
    .unwrap();
    check_mount(local, &tree, &file, &mnt);

    // The same over a daemon.
    let backing = Store::open(
        &StoreAddress::Sled(t.path().join("store2")),
        StoreDir::default(),
    )
    .unwrap();
    let daemon = Daemon::start(&backing, &Listen::Unix(t.path().join("d.sock"))).unwrap();
    let remote = Store::open(daemon.address(), StoreDir::default()).unwrap();
    check_mount(remote, &tree, &file, &mnt);
    drop(daemon);
}

/// A store holding one small file, and `oxnix store mount` serving it on
/// `<t>/mnt` (stderr piped); `None` when the command could not mount here.
fn spawn_mount_command(t: &Path) -> Option<(std::process::Child, std::path::PathBuf)> {
    let mnt = t.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let f = t.join("f");
    fs::write(&f, b"x").unwrap();
    let store = format!("sled://{}", t.join("store").display());
    let added = Command::new(env!("CARGO_BIN_EXE_nix-store"))
        .args(["--store", &store, "--add"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(added.status.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxnix"))
        .args(["store", "mount", "--store", &store])
        .arg(&mnt)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut n = 0;
    while fs::read_dir(&mnt).unwrap().count() == 0 && n < 100 {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            eprintln!("skipping the mount command test: {status}: {err}");
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
        n += 1;
    }
    assert_eq!(fs::read_dir(&mnt).unwrap().count(), 1);
    Some((child, mnt))
}

#[test]
fn mount_command_unmounts_on_sigint() {
    if let Some(why) = fuse_unusable() {
        eprintln!("skipping the FUSE test: {why}");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let Some((mut child, mnt)) = spawn_mount_command(t.path()) else {
        return;
    };
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(fs::read_dir(&mnt).unwrap().count(), 0, "still mounted");
}

/// A directory of small files and one file larger than a push (1 MiB).
fn make_flat_dir(root: &Path) {
    fs::create_dir_all(root.join("d")).unwrap();
    for i in 0..50u32 {
        let body: Vec<u8> = (0..(i * 97 + 1)).map(|j| (j * 7 + i) as u8).collect();
        fs::write(root.join(format!("d/f{i:02}")), body).unwrap();
    }
    let big: Vec<u8> = (0..3_000_001u32).map(|j| (j % 251) as u8).collect();
    fs::write(root.join("d/zbig"), big).unwrap();
}

/// Mounts a store holding `make_flat_dir`'s tree; the mount and the store
/// path's directory `d` inside it.
fn mount_flat_dir(t: &Path, options: MountOptions) -> Option<(Mount, std::path::PathBuf)> {
    mount_tree(t, make_flat_dir, options)
}

/// Mounts a store holding the tree `make` writes under `t/tree`; the
/// mount and the store path's directory `d` inside it.
fn mount_tree(
    t: &Path,
    make: fn(&Path),
    options: MountOptions,
) -> Option<(Mount, std::path::PathBuf)> {
    let tree = t.join("tree");
    make(&tree);
    let store = Store::open(&StoreAddress::Sled(t.join("store")), StoreDir::default()).unwrap();
    let path = store
        .add_path(&tree, "tree", IngestionMethod::Recursive, HashAlgo::Sha256)
        .unwrap();
    let mnt = t.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let m = mount_or_skip(store, &mnt, options)?;
    Some((m, mnt.join(path.base_name()).join("d")))
}

#[test]
fn reading_a_file_prefetches_its_siblings() {
    if let Some(why) = fuse_unusable() {
        eprintln!("skipping the FUSE test: {why}");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let Some((mount, d)) = mount_flat_dir(t.path(), MountOptions::default()) else {
        return;
    };
    let original = t.path().join("tree/d");
    // The kernel learns of the files, then the first one is read.
    assert_eq!(fs::read_dir(&d).unwrap().count(), 51);
    assert_eq!(
        fs::read(d.join("f00")).unwrap(),
        fs::read(original.join("f00")).unwrap()
    );
    assert!(
        mount.wait_prefetched(Duration::from_secs(20)),
        "prefetching never ended"
    );
    let before = mount.stats();
    assert_eq!(before.prefetched.files, 50, "{before:?}");
    let pushed: u64 = (1..50u64).map(|i| i * 97 + 1).sum::<u64>() + 3_000_001;
    assert_eq!(before.prefetched.bytes, pushed);
    // Every other file comes from the kernel's cache: no read request.
    for i in 1..50 {
        let name = format!("f{i:02}");
        assert_eq!(
            fs::read(d.join(&name)).unwrap(),
            fs::read(original.join(&name)).unwrap(),
            "{name}"
        );
    }
    assert!(fs::read(d.join("zbig")).unwrap() == fs::read(original.join("zbig")).unwrap());
    assert_eq!(
        mount.stats().reads,
        before.reads,
        "files were read from the store again"
    );
    mount.unmount().unwrap();
}

#[test]
fn a_large_file_is_pushed_ahead_of_its_reader() {
    if let Some(why) = fuse_unusable() {
        eprintln!("skipping the FUSE test: {why}");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let Some((mount, d)) = mount_tree(t.path(), make_large_file, MountOptions::default()) else {
        return;
    };
    let original = fs::read(t.path().join("tree/d/large")).unwrap();
    // A read far into the file, not where reading began: nothing pushed.
    let mut f = fs::File::open(d.join("large")).unwrap();
    let mut got = vec![0u8; 64 << 10];
    f.seek(SeekFrom::Start(16 << 20)).unwrap();
    f.read_exact(&mut got).unwrap();
    assert_eq!(got, original[16 << 20..(16 << 20) + (64 << 10)]);
    assert!(mount.wait_prefetched(Duration::from_secs(20)));
    assert_eq!(mount.stats().prefetched, PrefetchStats::default());
    // Reading from the start is reading in order.
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_exact(&mut got).unwrap();
    assert!(
        mount.wait_prefetched(Duration::from_secs(20)),
        "prefetching never ended"
    );
    let before = mount.stats();
    assert!(before.reads >= 1, "{before:?}");
    // At least 2 MiB after what READ answered has been pushed: reading on
    // to 2 MiB asks nothing of the store.
    assert!(before.prefetched.bytes >= 2 << 20, "{before:?}");
    got.resize(2 << 20, 0);
    f.read_exact(&mut got[64 << 10..]).unwrap();
    assert_eq!(
        mount.stats().reads,
        before.reads,
        "the pushed part was read again"
    );
    // The rest, pushed or read, is exact.
    f.read_to_end(&mut got).unwrap();
    assert!(got == original, "the large file differs");
    drop(f);
    mount.unmount().unwrap();
}

/// A 24 MiB file `d/large` with contents that do not repeat early.
fn make_large_file(root: &Path) {
    fs::create_dir_all(root.join("d")).unwrap();
    let body: Vec<u8> = (0..24u32 << 20)
        .map(|j| (j.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(root.join("d/large"), body).unwrap();
}

#[test]
fn over_grpc_a_large_file_is_read_not_pushed_ahead() {
    if let Some(why) = fuse_unusable() {
        eprintln!("skipping the FUSE test: {why}");
        return;
    }
    // The gRPC blob service cannot open a blob at an offset: pushing ahead
    // would fetch the file from its start again for every window.
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    make_large_file(&tree);
    let backing = Store::open(
        &StoreAddress::Sled(t.path().join("store")),
        StoreDir::default(),
    )
    .unwrap();
    let path = backing
        .add_path(&tree, "tree", IngestionMethod::Recursive, HashAlgo::Sha256)
        .unwrap();
    let daemon = Daemon::start(&backing, &Listen::Unix(t.path().join("d.sock"))).unwrap();
    let remote = Store::open(daemon.address(), StoreDir::default()).unwrap();
    let mnt = t.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let Some(mount) = mount_or_skip(remote, &mnt, MountOptions::default()) else {
        return;
    };
    let got = fs::read(mnt.join(path.base_name()).join("d/large")).unwrap();
    assert!(
        got == fs::read(tree.join("d/large")).unwrap(),
        "the large file differs"
    );
    assert!(mount.wait_prefetched(Duration::from_secs(20)));
    let stats = mount.stats();
    assert!(stats.reads >= 1, "{stats:?}");
    assert_eq!(stats.prefetched, PrefetchStats::default());
    mount.unmount().unwrap();
    drop(daemon);
}

#[test]
fn without_prefetching_every_file_is_read_from_the_store() {
    if let Some(why) = fuse_unusable() {
        eprintln!("skipping the FUSE test: {why}");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let options = MountOptions { prefetch: false };
    let Some((mount, d)) = mount_flat_dir(t.path(), options) else {
        return;
    };
    assert_same_tree(&d, &t.path().join("tree/d"));
    let stats = mount.stats();
    assert_eq!(stats.prefetched, PrefetchStats::default());
    assert!(stats.reads >= 51, "{stats:?}");
    mount.unmount().unwrap();
}

#[test]
fn a_killed_mount_command_leaves_no_mount_behind() {
    if let Some(why) = fuse_unusable() {
        eprintln!("skipping the FUSE test: {why}");
        return;
    }
    if Command::new("fusermount3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping the auto-unmount test: no fusermount3");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let Some((mut child, mnt)) = spawn_mount_command(t.path()) else {
        return;
    };
    child.kill().unwrap(); // SIGKILL: no chance to unmount by itself
    child.wait().unwrap();
    // fusermount3 notices and unmounts.
    let mut n = 0;
    while fs::read_dir(&mnt).map(|d| d.count()).unwrap_or(1) != 0 && n < 100 {
        std::thread::sleep(Duration::from_millis(50));
        n += 1;
    }
    let entries = fs::read_dir(&mnt).map(|d| d.count());
    assert!(matches!(entries, Ok(0)), "still mounted: {entries:?}");
}
