//! oxnix on C++ Nix's local store (`store::local`), checked against C++
//! Nix 2.8 itself on a throwaway chroot store (`--store local?root=DIR`):
//! paths we add are valid to C++ Nix and identical; paths C++ Nix adds are
//! valid to us; both writing at the same time lose nothing. Skipped with
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
