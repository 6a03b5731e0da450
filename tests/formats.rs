//! Property and adversarial tests of the NAR reader/writer and file-system
//! dump/restore (library level; the commands are tested in compat-tests).

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use oxnix::nar::fs::{dump_path, restore};
use oxnix::nar::reader::{parse, Validate};
use oxnix::nar::tree::Node;
use oxnix::nar::NarError;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = Vec<u8>> {
    // Names of printable ASCII, some unicode, and odd but valid bytes.
    prop_oneof![
        "[a-zA-Z0-9._-]{1,12}".prop_map(|s| s.into_bytes()),
        "[äöü€😀 a]{1,4}".prop_map(|s| s.into_bytes()),
        proptest::collection::vec(1u8..=255, 1..8),
    ]
    .prop_filter("valid NAR name", |n| oxnix::nar::is_valid_entry_name(n))
}

fn tree() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        (
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(executable, contents)| Node::Regular {
                executable,
                contents
            }),
        proptest::collection::vec(1u8..=255, 1..40).prop_map(|target| Node::Symlink { target }),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        proptest::collection::btree_map(name(), inner, 0..6).prop_map(Node::Directory)
    })
}

/// A node at the root of a directory, so file-system round trips have a
/// place to put symlinks and files.
fn dir_tree() -> impl Strategy<Value = Node> {
    proptest::collection::btree_map(name(), tree(), 0..6).prop_map(Node::Directory)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn nar_write_read_round_trip(node in tree()) {
        let nar = node.to_nar();
        prop_assert_eq!(Node::read_nar(Cursor::new(&nar)).unwrap(), node);
        parse(Cursor::new(&nar), &mut Validate).unwrap();
    }

    #[test]
    fn every_truncation_is_an_error(node in tree()) {
        let nar = node.to_nar();
        // Every proper prefix that ends on a token boundary or inside one.
        for cut in (0..nar.len()).step_by(7) {
            prop_assert!(parse(Cursor::new(&nar[..cut]), &mut Validate).is_err(), "cut at {}", cut);
        }
    }

    #[test]
    fn file_system_round_trip(node in dir_tree()) {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let nar = node.to_nar();
        restore(Cursor::new(&nar), &target).unwrap();
        let dumped = dump_path(&target, Vec::new()).unwrap();
        prop_assert_eq!(dumped, nar);
    }
}

/// Hand-built NAR token stream.
fn nar_of(tokens: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in tokens {
        out.extend_from_slice(&(t.len() as u64).to_le_bytes());
        out.extend_from_slice(t);
        out.resize(out.len().next_multiple_of(8), 0);
    }
    out
}

fn dir_with(names: &[&[u8]]) -> Vec<u8> {
    let mut tokens: Vec<&[u8]> = vec![b"nix-archive-1", b"(", b"type", b"directory"];
    for n in names {
        tokens.extend_from_slice(&[
            b"entry", b"(", b"name", n, b"node", b"(", b"type", b"symlink", b"target", b"x", b")",
            b")",
        ]);
    }
    tokens.push(b")");
    nar_of(&tokens)
}

#[test]
fn well_formed_hand_built_nar_parses() {
    parse(Cursor::new(dir_with(&[b"a", b"b"])), &mut Validate).unwrap();
}

#[test]
fn rejects_bad_names_order_and_duplicates() {
    for names in [
        vec![&b"a/b"[..]],
        vec![b".."],
        vec![b"."],
        vec![b""],
        vec![b"a\0b"],
        vec![b"b", b"a"],
        vec![b"a", b"a"],
    ] {
        let err = parse(Cursor::new(dir_with(&names)), &mut Validate).unwrap_err();
        assert!(
            matches!(
                err,
                NarError::InvalidName { .. } | NarError::Unsorted { .. }
            ),
            "{names:?}: {err}"
        );
    }
}

fn validate(nar: Vec<u8>) -> Result<(), NarError> {
    parse(Cursor::new(nar), &mut Validate)
}

#[test]
fn rejects_malformed_tokens() {
    let err = validate(nar_of(&[b"nix-archive-2"]));
    assert!(matches!(err, Err(NarError::NotANar)), "{err:?}");

    let err = validate(nar_of(&[b"nix-archive-1", b"(", b"type", b"fifo", b")"]));
    assert!(matches!(err, Err(NarError::UnknownType { .. })), "{err:?}");

    let marker: &[&[u8]] = &[
        b"nix-archive-1",
        b"(",
        b"type",
        b"regular",
        b"executable",
        b"x",
        b"contents",
        b"",
        b")",
    ];
    let err = validate(nar_of(marker));
    assert!(
        matches!(err, Err(NarError::BadExecutableMarker { .. })),
        "{err:?}"
    );

    // Non-zero padding after the symlink target.
    let link: &[&[u8]] = &[
        b"nix-archive-1",
        b"(",
        b"type",
        b"symlink",
        b"target",
        b"abc",
        b")",
    ];
    let mut padded = nar_of(link);
    let pos = padded.windows(3).position(|w| w == b"abc").unwrap() + 3;
    padded[pos] = 1;
    let err = validate(padded);
    assert!(matches!(err, Err(NarError::BadPadding { .. })), "{err:?}");

    // A huge length must not be allocated.
    let mut huge = nar_of(&[b"nix-archive-1", b"("]);
    huge.extend_from_slice(&u64::MAX.to_le_bytes());
    let err = validate(huge);
    assert!(matches!(err, Err(NarError::TooLong { .. })), "{err:?}");

    // An executable flag on a symlink is not part of the grammar.
    let exec_link: &[&[u8]] = &[
        b"nix-archive-1",
        b"(",
        b"type",
        b"symlink",
        b"executable",
        b"",
        b")",
    ];
    assert!(validate(nar_of(exec_link)).is_err());
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    const DEPTH: usize = 100_000;
    let mut tokens: Vec<&[u8]> = vec![b"nix-archive-1"];
    for _ in 0..DEPTH {
        tokens.extend_from_slice(&[
            b"(",
            b"type",
            b"directory",
            b"entry",
            b"(",
            b"name",
            b"d",
            b"node",
        ]);
    }
    tokens.extend_from_slice(&[b"(", b"type", b"directory", b")"]);
    for _ in 0..DEPTH {
        tokens.extend_from_slice(&[b")", b")"]);
    }
    parse(Cursor::new(nar_of(&tokens)), &mut Validate).unwrap();
}

#[test]
fn large_file_contents_are_streamed() {
    // A 64 MiB file that never exists in memory as a whole.
    const SIZE: u64 = 64 << 20;
    let head = {
        let mut h = nar_of(&[b"nix-archive-1", b"(", b"type", b"regular", b"contents"]);
        h.extend_from_slice(&SIZE.to_le_bytes());
        h
    };
    let tail = nar_of(&[b")"]);
    let stream = Cursor::new(head)
        .chain(std::io::repeat(7).take(SIZE))
        .chain(Cursor::new(tail));
    parse(stream, &mut Validate).unwrap();
}

#[test]
fn failed_restore_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out");
    let mut entries = BTreeMap::new();
    entries.insert(
        b"file".to_vec(),
        Node::Regular {
            executable: true,
            contents: vec![1; 1000],
        },
    );
    let nar = Node::Directory(entries).to_nar();
    for cut in [nar.len() - 1, nar.len() / 2, 40] {
        assert!(restore(Cursor::new(&nar[..cut]), &target).is_err());
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(leftovers.is_empty(), "left {leftovers:?} after cut {cut}");
    }
    // A bad entry name after a valid one: nothing is restored either.
    assert!(restore(Cursor::new(dir_with(&[b"a", b"../escape"])), &target).is_err());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    // The whole archive restores, with the executable bit.
    restore(Cursor::new(&nar), &target).unwrap();
    let meta = std::fs::metadata(target.join("file")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_ne!(meta.permissions().mode() & 0o111, 0);
    // An existing target is refused and left alone.
    assert!(restore(Cursor::new(&nar), &target).is_err());
    assert_eq!(std::fs::read(target.join("file")).unwrap(), vec![1; 1000]);
}

#[test]
fn restore_never_writes_through_a_symlink() {
    // Entry "a" is a symlink to a directory outside the target; a second
    // entry "a" (a directory with a file) would write through it. The
    // duplicate is rejected and nothing appears outside.
    let outside = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out");
    let outside_str = outside.path().to_str().unwrap().as_bytes().to_vec();
    let tokens: Vec<&[u8]> = vec![
        b"nix-archive-1",
        b"(",
        b"type",
        b"directory",
        b"entry",
        b"(",
        b"name",
        b"a",
        b"node",
        b"(",
        b"type",
        b"symlink",
        b"target",
        &outside_str,
        b")",
        b")",
        b"entry",
        b"(",
        b"name",
        b"a",
        b"node",
        b"(",
        b"type",
        b"directory",
        b"entry",
        b"(",
        b"name",
        b"pwned",
        b"node",
        b"(",
        b"type",
        b"regular",
        b"contents",
        b"x",
        b")",
        b")",
        b")",
        b")",
        b")",
    ];
    assert!(restore(Cursor::new(nar_of(&tokens)), &target).is_err());
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
