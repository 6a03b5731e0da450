//! The castore and store services: one suite per service trait, run against
//! every backend (memory and sled/files), and ingestion/rendering round
//! trips that must give back the very bytes that went in.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::Arc;

use oxnix::castore::directory::{self, Entry};
use oxnix::castore::proto;
use oxnix::castore::{
    B3Digest, BlobService, CastoreError, Directory, DirectoryService, FsBlobService,
    MemoryBlobService, MemoryDirectoryService, Node, SledDirectoryService,
};
use oxnix::hash::{Hash, HashAlgo};
use oxnix::nar::tree::Node as NarNode;
use oxnix::store::daemon::{Daemon, Listen};
use oxnix::store::{
    ingest_nar, ingest_path, render, MemoryPathInfoService, PathInfo, PathInfoService,
    SledPathInfoService, Store, StoreAddress, StoreError,
};
use oxnix::store_path::{IngestionMethod, StoreDir, StorePath};
use proptest::prelude::*;

/// A backend and what keeps it alive (the daemon serving it, its
/// temporary directory), dropped in that order.
struct Backend<T: ?Sized> {
    service: Arc<T>,
    _dir: Keep,
}

/// What keeps a backend alive: fields drop in order, the daemon before its
/// directory.
#[derive(Default)]
struct Keep {
    _daemon: Option<Daemon>,
    _dir: Option<tempfile::TempDir>,
}

impl From<Option<tempfile::TempDir>> for Keep {
    fn from(d: Option<tempfile::TempDir>) -> Keep {
        Keep {
            _daemon: None,
            _dir: d,
        }
    }
}

/// How a test reaches a daemon.
#[derive(Clone, Copy)]
enum Via {
    Tcp,
    Unix,
}

/// A daemon serving a fresh sled store, and a client store connected to it.
fn grpc_store(via: Via) -> (Store, Keep) {
    let dir = tempfile::tempdir().unwrap();
    let backing = Store::open(
        &StoreAddress::Sled(dir.path().join("store")),
        StoreDir::default(),
    )
    .unwrap();
    let listen = match via {
        Via::Tcp => Listen::Tcp("127.0.0.1:0".into()),
        Via::Unix => Listen::Unix(dir.path().join("daemon.sock")),
    };
    let daemon = Daemon::start(&backing, &listen).unwrap();
    let client = Store::open(daemon.address(), StoreDir::default()).unwrap();
    (
        client,
        Keep {
            _daemon: Some(daemon),
            _dir: Some(dir),
        },
    )
}

fn grpc_blobs(via: Via) -> Backend<dyn BlobService> {
    let (s, keep) = grpc_store(via);
    Backend {
        service: s.blobs,
        _dir: keep,
    }
}

fn grpc_dirs(via: Via) -> Backend<dyn DirectoryService> {
    let (s, keep) = grpc_store(via);
    // The daemon refuses a directory naming a blob it does not have: the
    // blobs the suite's files name are stored first.
    for contents in [&b"x"[..], b"y"] {
        put_blob(&*s.blobs, contents);
    }
    Backend {
        service: s.directories,
        _dir: keep,
    }
}

fn grpc_infos(via: Via) -> Backend<dyn PathInfoService> {
    let (s, keep) = grpc_store(via);
    Backend {
        service: s.path_infos,
        _dir: keep,
    }
}

fn memory_blobs() -> Backend<dyn BlobService> {
    Backend {
        service: Arc::new(MemoryBlobService::new()),
        _dir: Keep::default(),
    }
}

fn fs_blobs() -> Backend<dyn BlobService> {
    let dir = tempfile::tempdir().unwrap();
    Backend {
        service: Arc::new(FsBlobService::open(&dir.path().join("blobs")).unwrap()),
        _dir: Some(dir).into(),
    }
}

fn memory_dirs() -> Backend<dyn DirectoryService> {
    Backend {
        service: Arc::new(MemoryDirectoryService::new()),
        _dir: Keep::default(),
    }
}

fn sled_dirs() -> Backend<dyn DirectoryService> {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    Backend {
        service: Arc::new(SledDirectoryService::new(&db).unwrap()),
        _dir: Some(dir).into(),
    }
}

fn memory_infos() -> Backend<dyn PathInfoService> {
    Backend {
        service: Arc::new(MemoryPathInfoService::new()),
        _dir: Keep::default(),
    }
}

fn sled_infos() -> Backend<dyn PathInfoService> {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    Backend {
        service: Arc::new(SledPathInfoService::new(&db).unwrap()),
        _dir: Some(dir).into(),
    }
}

fn put_blob(s: &dyn BlobService, data: &[u8]) -> B3Digest {
    let mut w = s.open_write().unwrap();
    for piece in data.chunks(1000) {
        w.write_all(piece).unwrap();
    }
    w.close().unwrap()
}

fn blob_suite(b: Backend<dyn BlobService>) {
    let s = &*b.service;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 300) as u8).collect();
    let d = put_blob(s, &data);
    assert_eq!(d, B3Digest::of(&data));
    assert!(s.has(&d).unwrap());
    let mut back = Vec::new();
    s.open_read(&d)
        .unwrap()
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, data);
    // Reading from an offset gives the rest; past the end, nothing.
    for at in [0u64, 1, 65_537, 99_999, 100_000, 250_000] {
        let mut tail = Vec::new();
        s.open_read_at(&d, at)
            .unwrap()
            .unwrap()
            .read_to_end(&mut tail)
            .unwrap();
        assert_eq!(tail, data[(at as usize).min(data.len())..], "from {at}");
    }
    // Writing the same blob again is fine and gives the same digest.
    assert_eq!(put_blob(s, &data), d);
    // The empty blob.
    let e = put_blob(s, b"");
    assert_eq!(e, B3Digest::of(b""));
    // A dropped writer stores nothing.
    let mut w = s.open_write().unwrap();
    w.write_all(b"never closed").unwrap();
    drop(w);
    let missing = B3Digest::of(b"never closed");
    assert!(!s.has(&missing).unwrap());
    assert!(s.open_read(&missing).unwrap().is_none());
    assert!(s.open_read_at(&missing, 5).unwrap().is_none());
    s.sync().unwrap();
}

fn file_entry(name: &[u8], data: &[u8]) -> Entry {
    Entry {
        name: name.to_vec(),
        node: Node::File {
            digest: B3Digest::of(data),
            size: data.len() as u64,
            executable: false,
        },
    }
}

fn directory_suite(b: Backend<dyn DirectoryService>) {
    let s = &*b.service;
    let leaf = directory::from_entries([file_entry(b"f", b"x")]);
    let leaf_digest = directory::digest(&leaf);
    let parent = directory::from_entries([
        Entry {
            name: b"sub".to_vec(),
            node: Node::Directory {
                digest: leaf_digest,
                size: 1,
            },
        },
        Entry {
            name: b"link".to_vec(),
            node: Node::Symlink {
                target: b"sub/f".to_vec(),
            },
        },
    ]);
    // The parent alone is refused: its child is not stored.
    assert!(matches!(
        s.put(parent.clone()),
        Err(CastoreError::MissingChild { .. })
    ));
    assert!(!s.has(&directory::digest(&parent)).unwrap());
    // Children first, in one closure.
    let root = s.put_closure(vec![leaf.clone(), parent.clone()]).unwrap();
    assert_eq!(root, directory::digest(&parent));
    assert_eq!(s.get(&root).unwrap(), Some(parent.clone()));
    assert_eq!(s.get(&leaf_digest).unwrap(), Some(leaf.clone()));
    assert!(s.has(&leaf_digest).unwrap());
    // Now the parent alone is accepted, and putting again is harmless.
    assert_eq!(s.put(parent.clone()).unwrap(), root);
    // A wrong size is refused.
    let lying = directory::from_entries([Entry {
        name: b"sub".to_vec(),
        node: Node::Directory {
            digest: leaf_digest,
            size: 7,
        },
    }]);
    assert!(matches!(
        s.put(lying),
        Err(CastoreError::WrongSize {
            claimed: 7,
            actual: 1,
            ..
        })
    ));
    // Invalid directories are refused, and so is an empty closure.
    let unsorted = Directory {
        files: vec![
            proto::FileNode {
                name: b"b".to_vec(),
                digest: vec![0; 32],
                size: 0,
                executable: false,
            },
            proto::FileNode {
                name: b"a".to_vec(),
                digest: vec![0; 32],
                size: 0,
                executable: false,
            },
        ],
        ..Default::default()
    };
    assert!(matches!(
        s.put(unsorted),
        Err(CastoreError::InvalidDirectory(_))
    ));
    assert!(matches!(
        s.put_closure(vec![]),
        Err(CastoreError::EmptyClosure)
    ));
    // A failing closure stores nothing of it.
    let lone = directory::from_entries([file_entry(b"g", b"y")]);
    let bad_parent = directory::from_entries([Entry {
        name: b"d".to_vec(),
        node: Node::Directory {
            digest: B3Digest::of(b"nothing"),
            size: 0,
        },
    }]);
    assert!(s.put_closure(vec![lone.clone(), bad_parent]).is_err());
    assert!(!s.has(&directory::digest(&lone)).unwrap());
    assert_eq!(s.get(&B3Digest::of(b"nothing")).unwrap(), None);
}

fn info(name: &str, refs: &[&StorePath]) -> PathInfo {
    let p = StoreDir::default()
        .text_path(name, name.as_bytes(), &BTreeSet::new())
        .unwrap();
    PathInfo {
        store_path: p,
        node: Node::Symlink {
            target: b"x".to_vec(),
        },
        references: refs.iter().map(|r| (*r).clone()).collect(),
        nar_sha256: [3; 32],
        nar_size: 99,
        deriver: None,
        signatures: vec!["key:c2ln".into()],
        ca: Some("text:sha256:0000".into()),
        registration_time: 5,
    }
}

fn path_info_suite(b: Backend<dyn PathInfoService>) {
    let s = &*b.service;
    let a = info("a", &[]);
    let mut bb = info("b", &[&a.store_path]);
    bb.deriver = Some(a.store_path.clone());
    assert_eq!(s.get(&a.store_path).unwrap(), None);
    s.put(a.clone()).unwrap();
    s.put(bb.clone()).unwrap();
    assert_eq!(s.get(&a.store_path).unwrap(), Some(a.clone()));
    assert_eq!(s.get(&bb.store_path).unwrap(), Some(bb.clone()));
    let mut all = vec![a.clone(), bb.clone()];
    all.sort_by(|x, y| x.store_path.cmp(&y.store_path));
    assert_eq!(s.list().unwrap(), all);
    // Same hash part, other name: a different path.
    let other = StorePath::parse_base_name(&format!("{}-other", a.store_path.hash_part())).unwrap();
    assert_eq!(s.get(&other).unwrap(), None);
    assert!(!s.delete(&other).unwrap());
    assert!(s.delete(&a.store_path).unwrap());
    assert!(!s.delete(&a.store_path).unwrap());
    assert_eq!(s.get(&a.store_path).unwrap(), None);
    assert_eq!(s.list().unwrap(), vec![bb]);
}

#[test]
fn blob_service_memory() {
    blob_suite(memory_blobs());
}
#[test]
fn blob_service_files() {
    blob_suite(fs_blobs());
}
#[test]
fn directory_service_memory() {
    directory_suite(memory_dirs());
}
#[test]
fn directory_service_sled() {
    directory_suite(sled_dirs());
}
#[test]
fn path_info_service_memory() {
    path_info_suite(memory_infos());
}
#[test]
fn path_info_service_sled() {
    path_info_suite(sled_infos());
}
#[test]
fn blob_service_grpc() {
    blob_suite(grpc_blobs(Via::Tcp));
    blob_suite(grpc_blobs(Via::Unix));
}
#[test]
fn directory_service_grpc() {
    directory_suite(grpc_dirs(Via::Tcp));
    directory_suite(grpc_dirs(Via::Unix));
}
#[test]
fn path_info_service_grpc() {
    // The daemon refuses a path info whose tree is not stored: store the
    // trees of the suite's symlink-rooted infos need nothing.
    path_info_suite(grpc_infos(Via::Tcp));
    path_info_suite(grpc_infos(Via::Unix));
}

/// Every store backend: memory, sled in a fresh directory, and a daemon
/// (serving a sled store) over TCP and over a unix socket.
fn stores() -> Vec<(Store, Keep)> {
    let dir = tempfile::tempdir().unwrap();
    let sled = Store::open(
        &StoreAddress::Sled(dir.path().join("store")),
        StoreDir::default(),
    )
    .unwrap();
    vec![
        (Store::memory(StoreDir::default()), Keep::default()),
        (sled, Some(dir).into()),
        grpc_store(Via::Tcp),
        grpc_store(Via::Unix),
    ]
}

fn round_trip(store: &Store, nar: &[u8]) {
    let ing = ingest_nar(&*store.blobs, &*store.directories, nar, None).unwrap();
    assert_eq!(ing.nar_hash, Hash::of_bytes(HashAlgo::Sha256, nar));
    assert_eq!(ing.nar_size, nar.len() as u64);
    let out = render::write_nar(&*store.blobs, &*store.directories, &ing.node, Vec::new()).unwrap();
    assert!(out == nar, "rendered NAR differs from the ingested one");
}

fn arb_tree() -> impl Strategy<Value = NarNode> {
    let name = proptest::collection::vec(
        prop_oneof![Just(b'a'), Just(b'b'), Just(b'.'), Just(0xc3u8), Just(b'-')],
        1..4,
    )
    .prop_filter("valid entry name", |n| n != b"." && n != b"..");
    let leaf = prop_oneof![
        (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(
            |(executable, contents)| NarNode::Regular {
                executable,
                contents
            }
        ),
        proptest::collection::vec(1u8..=255, 1..20).prop_map(|target| NarNode::Symlink { target }),
    ];
    leaf.prop_recursive(4, 40, 6, move |inner| {
        proptest::collection::btree_map(name.clone(), inner, 0..6).prop_map(NarNode::Directory)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn ingest_render_round_trip(tree in arb_tree()) {
        let nar = tree.to_nar();
        for (store, _keep) in stores() {
            round_trip(&store, &nar);
        }
    }
}

#[test]
fn ingest_path_matches_dump_and_shares_blobs() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("tree");
    std::fs::create_dir_all(r.join("a/b")).unwrap();
    std::fs::write(r.join("a/b/f"), b"same").unwrap();
    std::fs::write(r.join("g"), b"same").unwrap();
    std::fs::write(r.join("big"), vec![7u8; 3 << 20]).unwrap();
    std::os::unix::fs::symlink("g", r.join("l")).unwrap();
    std::fs::create_dir(r.join("empty")).unwrap();
    let nar = oxnix::nar::fs::dump_path(&r, Vec::new()).unwrap();
    for (store, _keep) in stores() {
        let ing = ingest_path(&*store.blobs, &*store.directories, &r, None).unwrap();
        assert_eq!(ing.nar_hash, Hash::of_bytes(HashAlgo::Sha256, &nar));
        assert_eq!(ing.nar_size, nar.len() as u64);
        // Root directory: a, big, empty, g, l and below a: b, b/f.
        assert!(matches!(ing.node, Node::Directory { size: 7, .. }));
        let out =
            render::write_nar(&*store.blobs, &*store.directories, &ing.node, Vec::new()).unwrap();
        assert!(out == nar);
        // A flat content hash of a regular file, a recursive one of a tree.
        let flat = ingest_path(
            &*store.blobs,
            &*store.directories,
            &r.join("g"),
            Some((IngestionMethod::Flat, HashAlgo::Sha1)),
        )
        .unwrap();
        assert_eq!(
            flat.content_hash,
            Some(Hash::of_bytes(HashAlgo::Sha1, b"same"))
        );
        let rec = ingest_path(
            &*store.blobs,
            &*store.directories,
            &r,
            Some((IngestionMethod::Recursive, HashAlgo::Md5)),
        )
        .unwrap();
        assert_eq!(rec.content_hash, Some(Hash::of_bytes(HashAlgo::Md5, &nar)));
        assert!(matches!(
            ingest_path(
                &*store.blobs,
                &*store.directories,
                &r,
                Some((IngestionMethod::Flat, HashAlgo::Sha1)),
            ),
            Err(StoreError::FlatNotRegular)
        ));
    }
}

#[test]
fn ingest_nar_checks_expected_hash_and_size_and_rejects_bad_nars() {
    let tree = NarNode::Directory(BTreeMap::from([(
        b"f".to_vec(),
        NarNode::Regular {
            executable: true,
            contents: b"hi".to_vec(),
        },
    )]));
    let nar = tree.to_nar();
    let good = Hash::of_bytes(HashAlgo::Sha256, &nar);
    let wrong = Hash::of_bytes(HashAlgo::Sha256, b"other");
    for (store, _keep) in stores() {
        let (b, d) = (&*store.blobs, &*store.directories);
        assert!(ingest_nar(b, d, nar.as_slice(), Some((good, nar.len() as u64))).is_ok());
        assert!(matches!(
            ingest_nar(b, d, nar.as_slice(), Some((wrong, nar.len() as u64))),
            Err(StoreError::NarHashMismatch { .. })
        ));
        assert!(matches!(
            ingest_nar(b, d, nar.as_slice(), Some((good, 1))),
            Err(StoreError::NarSizeMismatch { .. })
        ));
        assert!(matches!(
            ingest_nar(b, d, &nar[..nar.len() - 8], None),
            Err(StoreError::BadNar(_))
        ));
        assert!(matches!(
            ingest_nar(b, d, &b"garbage"[..], None),
            Err(StoreError::BadNar(_))
        ));
    }
}

#[test]
fn store_add_query_closure_delete_export_import() {
    for (store, _keep) in stores() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("hello");
        std::fs::write(&f, b"hello\n").unwrap();
        let p = store
            .add_path(&f, "hello", IngestionMethod::Recursive, HashAlgo::Sha256)
            .unwrap();
        // As C++ Nix 2.8's `nix-store --add` of this file.
        assert_eq!(
            store.print(&p),
            "/nix/store/gwina1sjk7g95wq6fxc6b7s1hza53h74-hello"
        );
        let info = store.query(&p).unwrap();
        let nar = oxnix::nar::fs::dump_path(&f, Vec::new()).unwrap();
        assert_eq!(info.nar_size, nar.len() as u64);
        assert_eq!(store.nar(&p, Vec::new()).unwrap(), nar);
        let (_, h) = store.verify(&p).unwrap();
        assert_eq!(h, info.nar_hash());

        // Two more paths referring to it (registered directly).
        let mut b = info.clone();
        b.store_path = StorePath::parse_base_name("00000000000000000000000000000000-b").unwrap();
        b.references = BTreeSet::from([p.clone()]);
        store.path_infos.put(b.clone()).unwrap();
        let mut c = b.clone();
        c.store_path = StorePath::parse_base_name("11111111111111111111111111111111-c").unwrap();
        c.references = BTreeSet::from([b.store_path.clone(), c.store_path.clone()]);
        store.path_infos.put(c.clone()).unwrap();

        let all = BTreeSet::from([p.clone(), b.store_path.clone(), c.store_path.clone()]);
        assert_eq!(
            store
                .closure(&BTreeSet::from([c.store_path.clone()]), false)
                .unwrap(),
            all
        );
        assert_eq!(
            store.closure(&BTreeSet::from([p.clone()]), true).unwrap(),
            all
        );
        assert_eq!(
            store.sort_references_first(&all).unwrap(),
            vec![p.clone(), b.store_path.clone(), c.store_path.clone()]
        );

        // Export everything, import into a fresh store: same infos and NARs.
        let exported = oxnix::store::export::export_paths(&store, &all, Vec::new()).unwrap();
        let fresh = Store::memory(StoreDir::default());
        let imported = oxnix::store::export::import_paths(&fresh, exported.as_slice()).unwrap();
        assert_eq!(imported, store.sort_references_first(&all).unwrap());
        for q in &all {
            let (x, y) = (store.query(q).unwrap(), fresh.query(q).unwrap());
            assert_eq!(
                (x.references, x.nar_size, x.nar_sha256),
                (y.references, y.nar_size, y.nar_sha256)
            );
            assert_eq!(
                store.nar(q, Vec::new()).unwrap(),
                fresh.nar(q, Vec::new()).unwrap()
            );
        }
        // Importing c alone into an empty store fails: its references are missing.
        let only_c = oxnix::store::export::export_paths(
            &store,
            &BTreeSet::from([c.store_path.clone()]),
            Vec::new(),
        )
        .unwrap();
        assert!(matches!(
            oxnix::store::export::import_paths(
                &Store::memory(StoreDir::default()),
                only_c.as_slice()
            ),
            Err(StoreError::NotValid(_))
        ));

        // Deleting p alone is refused: b refers to it. p, b and c together go.
        assert!(matches!(
            store.delete(&BTreeSet::from([p.clone()])),
            Err(StoreError::StillAlive(_))
        ));
        assert!(store.is_valid(&p).unwrap());
        assert_eq!(store.delete(&all).unwrap().len(), 3);
        assert!(!store.is_valid(&p).unwrap());
        assert!(matches!(store.query(&p), Err(StoreError::NotValid(_))));
    }
}

#[test]
fn store_addresses() {
    assert_eq!(
        StoreAddress::parse("memory://").unwrap(),
        StoreAddress::Memory
    );
    assert_eq!(
        StoreAddress::parse("sled:///var/x").unwrap(),
        StoreAddress::Sled("/var/x".into())
    );
    assert!(matches!(
        StoreAddress::parse("grpc+http://localhost:8000").unwrap(),
        StoreAddress::GrpcHttp(_)
    ));
    // Nobody listens there.
    let unix = StoreAddress::parse("grpc+unix:///nonexistent/oxnix.sock").unwrap();
    assert!(matches!(
        Store::open(&unix, StoreDir::default()),
        Err(StoreError::Castore(CastoreError::Connect { .. }))
    ));
    for bad in [
        "sled://relative",
        "local",
        "daemon",
        "",
        "memory",
        "grpc+unix://x",
    ] {
        assert!(StoreAddress::parse(bad).is_err(), "{bad}");
    }
    let env = |k: &str| match k {
        "HOME" => Some("/home/u".into()),
        _ => None,
    };
    assert_eq!(
        StoreAddress::from_env(&env).unwrap(),
        StoreAddress::Sled("/home/u/.local/share/oxnix".into())
    );
    let env2 = |k: &str| match k {
        "OXNIX_STORE" => Some("memory://".into()),
        "HOME" => Some("/home/u".into()),
        _ => None,
    };
    assert_eq!(StoreAddress::from_env(&env2).unwrap(), StoreAddress::Memory);
}

/// Malformed requests to the daemon are answered with errors (and the
/// daemon goes on serving): digests of the wrong length, directories that
/// do not validate, path infos that do not parse or whose tree is missing,
/// a blob stream that ends before its last piece.
#[test]
fn daemon_answers_malformed_requests_with_errors() {
    use oxnix::castore::proto::blob_service_client::BlobServiceClient;
    use oxnix::castore::proto::directory_service_client::DirectoryServiceClient;
    use oxnix::castore::proto::{
        GetDirectoryRequest, PutBlobChunk, ReadBlobRequest, StatBlobRequest,
    };
    use oxnix::store::proto::path_info_service_client::PathInfoServiceClient;
    use oxnix::store::proto::GetPathInfoRequest;
    use tonic::Code;

    let (store, keep) = grpc_store(Via::Tcp);
    let addr = match &keep._daemon {
        Some(d) => d.address().to_string().replace("grpc+http://", "http://"),
        None => unreachable!(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut blobs = BlobServiceClient::connect(addr.clone()).await.unwrap();
        let e = blobs
            .stat(StatBlobRequest {
                digest: vec![1; 31],
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        let e = blobs
            .read(ReadBlobRequest { digest: vec![] })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        let e = blobs
            .read(ReadBlobRequest {
                digest: vec![0; 32],
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
        // A stream without its last piece stores nothing.
        let pieces = vec![PutBlobChunk {
            data: b"partial".to_vec(),
            last: false,
        }];
        let e = blobs.put(tokio_stream::iter(pieces)).await.unwrap_err();
        assert_eq!(e.code(), Code::Aborted);
        // Data after the last piece is refused.
        let pieces = vec![
            PutBlobChunk {
                data: b"a".to_vec(),
                last: true,
            },
            PutBlobChunk {
                data: b"b".to_vec(),
                last: false,
            },
        ];
        let e = blobs.put(tokio_stream::iter(pieces)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);

        let mut dirs = DirectoryServiceClient::connect(addr.clone()).await.unwrap();
        let e = dirs
            .get(GetDirectoryRequest {
                digest: vec![7; 3],
                recursive: true,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        let unsorted = Directory {
            symlinks: vec![
                proto::SymlinkNode {
                    name: b"b".to_vec(),
                    target: b"x".to_vec(),
                },
                proto::SymlinkNode {
                    name: b"a".to_vec(),
                    target: b"x".to_vec(),
                },
            ],
            ..Default::default()
        };
        let e = dirs
            .put(tokio_stream::iter(vec![unsorted]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        let e = dirs.put(tokio_stream::iter(vec![])).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);

        let mut infos = PathInfoServiceClient::connect(addr.clone()).await.unwrap();
        let e = infos
            .get(GetPathInfoRequest {
                base_name: "not a store path".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        let e = infos
            .put(oxnix::store::proto::PathInfo::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        // A path info whose root directory is not stored.
        let mut i = info("dangling", &[]);
        i.node = Node::Directory {
            digest: B3Digest::of(b"nowhere"),
            size: 0,
        };
        let e = infos.put(i.to_proto()).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition);
    });
    // Still serving, and nothing of the above was stored.
    assert!(!store.blobs.has(&B3Digest::of(b"partial")).unwrap());
    assert!(!store.blobs.has(&B3Digest::of(b"a")).unwrap());
    assert!(store.path_infos.list().unwrap().is_empty());
}

/// `oxnix store daemon` serves `nix-store` commands run against it, and
/// ends on SIGTERM, removing its socket.
#[test]
fn daemon_command_serves_nix_store() {
    use std::process::{Command, Stdio};
    let t = tempfile::tempdir().unwrap();
    let sock = t.path().join("d.sock");
    let backing = format!("sled://{}", t.path().join("store").display());
    let address = format!("grpc+unix://{}", sock.display());
    /// Kills the daemon if the test fails half-way.
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut daemon = Child(
        Command::new(env!("CARGO_BIN_EXE_oxnix"))
            .args(["store", "daemon", "--listen", &address, "--store", &backing])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut waited = 0;
    while !sock.exists() && waited < 200 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        waited += 1;
    }
    assert!(sock.exists(), "daemon did not create its socket");
    let tree = t.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("f"), b"contents").unwrap();
    let nix_store = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_nix-store"))
            .arg("--store")
            .arg(&address)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "nix-store {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    let added = nix_store(&["--add", tree.to_str().unwrap()]);
    let path = String::from_utf8(added).unwrap().trim().to_owned();
    let nar = nix_store(&["--dump", &path]);
    assert_eq!(nar, oxnix::nar::fs::dump_path(&tree, Vec::new()).unwrap());
    let size = nix_store(&["-q", "--size", &path]);
    assert_eq!(
        String::from_utf8(size).unwrap().trim(),
        nar.len().to_string()
    );
    nix_store(&["--verify-path", &path]);
    // SIGTERM: a clean exit, socket gone.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(daemon.0.id() as i32, libc::SIGTERM) };
    let status = daemon.0.wait().unwrap();
    assert!(status.success(), "daemon exit: {status:?}");
    assert!(!sock.exists());
    // The backing store kept the path.
    let local = Store::open(
        &StoreAddress::Sled(t.path().join("store")),
        StoreDir::default(),
    )
    .unwrap();
    assert!(local
        .is_valid(&StoreDir::default().parse_path(&path).unwrap())
        .unwrap());
}

/// Every path info's tree is complete: each directory below its root is
/// stored, and each blob a file names.
fn assert_store_consistent(store: &Store) -> usize {
    let infos = store.path_infos.list().unwrap();
    for info in &infos {
        let mut todo = vec![info.node.clone()];
        while let Some(node) = todo.pop() {
            match node {
                Node::File { digest, .. } => assert!(
                    store.blobs.has(&digest).unwrap(),
                    "{}: blob {digest} missing",
                    info.store_path.base_name()
                ),
                Node::Directory { digest, .. } => {
                    let dir = store.directories.get(&digest).unwrap().unwrap_or_else(|| {
                        panic!(
                            "{}: directory {digest} missing",
                            info.store_path.base_name()
                        )
                    });
                    todo.extend(directory::entries(&dir).into_iter().map(|e| e.node));
                }
                Node::Symlink { .. } => {}
            }
        }
        // And it renders to its recorded hash.
        let (_, h) = store.verify(&info.store_path).unwrap();
        assert_eq!(h, info.nar_hash());
    }
    infos.len()
}

/// A `nix-store` killed with SIGKILL in the middle of an import or an add
/// leaves each path whole or absent: no path info refers to a missing
/// directory or blob.
#[test]
fn killed_imports_leave_whole_paths_or_nothing() {
    use std::process::{Command, Stdio};
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    for d in 0..20 {
        let sub = tree.join(format!("d{d}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..50 {
            std::fs::write(sub.join(format!("f{f}")), format!("{d}/{f}").repeat(100)).unwrap();
        }
    }
    std::fs::write(tree.join("big"), vec![5u8; 8 << 20]).unwrap();
    let small = t.path().join("small");
    std::fs::write(&small, b"small").unwrap();

    // An export of two paths, built in a scratch store.
    let scratch = Store::memory(StoreDir::default());
    let a = scratch
        .add_path(
            &small,
            "small",
            IngestionMethod::Recursive,
            HashAlgo::Sha256,
        )
        .unwrap();
    let b = scratch
        .add_path(&tree, "tree", IngestionMethod::Recursive, HashAlgo::Sha256)
        .unwrap();
    // The export writes unrelated paths in store path order: `a` is the one
    // written first.
    let order = scratch
        .sort_references_first(&BTreeSet::from([a.clone(), b.clone()]))
        .unwrap();
    let (a, b) = (order[0].clone(), order[1].clone());
    let first =
        oxnix::store::export::export_paths(&scratch, &BTreeSet::from([a.clone()]), Vec::new())
            .unwrap();
    let both = oxnix::store::export::export_paths(
        &scratch,
        &BTreeSet::from([a.clone(), b.clone()]),
        Vec::new(),
    )
    .unwrap();
    // The export format ends with a 0 marker (8 bytes) after the last path.
    let first_len = first.len() - 8;

    let nix_store = env!("CARGO_BIN_EXE_nix-store");
    // --import stalled part-way through the second path, then killed.
    for (n, cut) in [
        first_len / 2,
        first_len + 8,
        first_len + (both.len() - first_len) / 2,
    ]
    .into_iter()
    .enumerate()
    {
        let dir = t.path().join(format!("import{n}"));
        let address = format!("sled://{}", dir.display());
        let mut child = Command::new(nix_store)
            .args(["--store", &address, "--import"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(&both[..cut]).unwrap();
        input.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        child.kill().unwrap();
        child.wait().unwrap();
        drop(input);
        let store = Store::open(&StoreAddress::Sled(dir), StoreDir::default()).unwrap();
        let valid = assert_store_consistent(&store);
        assert!(!store.is_valid(&b).unwrap(), "cut at {cut}");
        assert_eq!(store.is_valid(&a).unwrap(), cut > first_len, "cut at {cut}");
        assert_eq!(valid, usize::from(cut > first_len));
    }

    // --add killed after various delays.
    for (n, ms) in [5u64, 40, 120, 400].into_iter().enumerate() {
        let dir = t.path().join(format!("add{n}"));
        let address = format!("sled://{}", dir.display());
        let mut child = Command::new(nix_store)
            .args(["--store", &address, "--add"])
            .arg(&tree)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let _ = child.kill();
        child.wait().unwrap();
        if !dir.join("db").exists() {
            continue; // killed before the store was created
        }
        let store = Store::open(&StoreAddress::Sled(dir), StoreDir::default()).unwrap();
        assert_store_consistent(&store);
    }
}

// --- What garbage collection needs of the backends --------------------------

/// Listing, write times (renewed by a write of a blob stored already) and
/// deleting, for the local blob backends.
fn blob_collect_suite(b: Backend<dyn BlobService>) {
    let s = &*b.service;
    let d = put_blob(s, b"to be collected");
    let listed = |d: &B3Digest| s.list().unwrap().into_iter().find(|x| x.digest == *d);
    let first = listed(&d).expect("listed");
    assert_eq!(first.size, 15);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(put_blob(s, b"to be collected"), d);
    let again = listed(&d).expect("listed");
    assert!(again.written > first.written, "a rewrite renews the time");
    assert!(s.delete(&d).unwrap());
    assert!(!s.has(&d).unwrap());
    assert!(listed(&d).is_none());
    assert!(!s.delete(&d).unwrap());
    // Stored again after being collected.
    assert_eq!(put_blob(s, b"to be collected"), d);
    assert!(s.has(&d).unwrap());
}

fn directory_collect_suite(b: Backend<dyn DirectoryService>) {
    let s = &*b.service;
    let leaf = directory::from_entries([file_entry(b"f", b"y")]);
    let d = s.put(leaf.clone()).unwrap();
    let listed = |d: &B3Digest| s.list().unwrap().into_iter().find(|x| x.digest == *d);
    let first = listed(&d).expect("listed");
    std::thread::sleep(std::time::Duration::from_millis(20));
    s.put(leaf.clone()).unwrap();
    assert!(listed(&d).expect("listed").written > first.written);
    s.delete_many(&[d]).unwrap();
    assert!(!s.has(&d).unwrap());
    assert!(listed(&d).is_none());
    s.delete_many(&[d]).unwrap();
}

#[test]
fn collect_listing_and_deleting_on_local_backends() {
    blob_collect_suite(memory_blobs());
    blob_collect_suite(fs_blobs());
    directory_collect_suite(memory_dirs());
    directory_collect_suite(sled_dirs());
}

#[test]
fn collecting_through_a_daemon_is_not_supported_yet() {
    let blobs = grpc_blobs(Via::Unix);
    let dirs = grpc_dirs(Via::Unix);
    for e in [
        blobs.service.list().map(|_| ()).unwrap_err(),
        blobs
            .service
            .delete(&B3Digest::of(b""))
            .map(|_| ())
            .unwrap_err(),
        dirs.service.list().map(|_| ()).unwrap_err(),
        dirs.service.delete_many(&[]).unwrap_err(),
    ] {
        assert!(matches!(e, CastoreError::NotSupported(_)), "{e}");
        assert!(e.to_string().starts_with("not supported yet: "));
    }
}

/// On every store: dead paths go with the castore data only they held;
/// live ones and what they refer to stay whole; a given path still
/// referred to stops `--delete`'s deletion. Through a daemon, nothing is
/// deleted and the answer is "not supported yet".
#[test]
fn collect_on_every_store() {
    use oxnix::store::gc::{collect, GcOptions, Target};
    for (store, _keep) in stores() {
        let work = tempfile::tempdir().unwrap();
        let mk = |name: &str, shared: &[u8], own: &[u8]| {
            let t = work.path().join(name);
            std::fs::create_dir_all(t.join("d")).unwrap();
            std::fs::write(t.join("d/shared"), shared).unwrap();
            std::fs::write(t.join("own"), own).unwrap();
            store
                .add_path(&t, name, IngestionMethod::Recursive, HashAlgo::Sha256)
                .unwrap()
        };
        let live = mk("live", b"shared bytes", b"live's own");
        let dead = mk("dead", b"shared bytes", &[9u8; 4096]);
        let p = |n: &str| StorePath::parse_base_name(n).unwrap();
        let (a, b) = (
            p("00000000000000000000000000000000-a"),
            p("11111111111111111111111111111111-b"),
        );
        store
            .add_texts(&[
                (a.clone(), b"text a".to_vec(), BTreeSet::new()),
                (b.clone(), b"text b".to_vec(), BTreeSet::from([a.clone()])),
            ])
            .unwrap();
        let opts = GcOptions {
            grace: std::time::Duration::ZERO,
            ..GcOptions::default()
        };
        let remote = store.blobs.list().is_err();
        let keep_live = |_: &Store| Ok::<_, StoreError>(BTreeSet::from([live.clone()]));
        // `a` is referred to by `b`, which is not given.
        let r = collect(
            &store,
            &Target::Paths(BTreeSet::from([a.clone()])),
            &opts,
            keep_live,
            &mut |_| {},
        );
        if remote {
            let e = r.unwrap_err();
            assert!(e.to_string().starts_with("not supported yet: "), "{e}");
            assert!(store.is_valid(&a).unwrap() && store.is_valid(&dead).unwrap());
            continue;
        }
        let r = r.unwrap();
        assert_eq!(r.still_alive, Some(a.clone()));
        assert!(r.deleted.is_empty() && store.is_valid(&a).unwrap());
        let mut order = Vec::new();
        let r = collect(&store, &Target::Dead, &opts, keep_live, &mut |e| {
            if let oxnix::store::gc::Event::Deleting(p) = e {
                order.push(p.clone());
            }
        })
        .unwrap();
        // Referrers first.
        assert_eq!(order, vec![b.clone(), a.clone(), dead.clone()]);
        assert_eq!(r.deleted, order);
        // dead's own file and the two texts; the shared file stays.
        assert_eq!(r.bytes_freed, 4096 + 6 + 6);
        assert_eq!(r.blobs_removed, 3);
        for gone in [&a, &b, &dead] {
            assert!(!store.is_valid(gone).unwrap());
        }
        let (info, found) = store.verify(&live).unwrap();
        assert_eq!(found, info.nar_hash());
        assert_eq!(store.blobs.list().unwrap().len(), 2);
        // live's root and its `d` (which dead's `d` was too).
        assert_eq!(store.directories.list().unwrap().len(), 2);
    }
}
