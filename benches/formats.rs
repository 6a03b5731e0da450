//! Micro-benchmarks of the format code (run with `cargo bench`). The
//! side-by-side comparison with C++ Nix is `benches/compare.sh`.

use std::io::Cursor;

use oxnix::hash::{Hash, HashAlgo};
use oxnix::nar::reader::{parse, Validate};
use oxnix::nar::tree::Node;

fn main() {
    divan::main();
}

fn sample_tree() -> Node {
    let mut entries = std::collections::BTreeMap::new();
    for i in 0..1000 {
        entries.insert(
            format!("file-{i:04}").into_bytes(),
            Node::Regular {
                executable: i % 7 == 0,
                contents: vec![i as u8; 1000 + i],
            },
        );
    }
    Node::Directory(entries)
}

#[divan::bench]
fn nix32_encode_sha256(b: divan::Bencher) {
    let h = Hash::of_bytes(HashAlgo::Sha256, b"x");
    b.bench(|| oxnix::nixbase32::encode(divan::black_box(h.digest())));
}

#[divan::bench]
fn nix32_decode_sha256(b: divan::Bencher) {
    let s = oxnix::nixbase32::encode(Hash::of_bytes(HashAlgo::Sha256, b"x").digest());
    b.bench(|| oxnix::nixbase32::decode(divan::black_box(s.as_bytes())));
}

#[divan::bench]
fn nar_write_1000_files(b: divan::Bencher) {
    let t = sample_tree();
    b.bench(|| t.to_nar());
}

#[divan::bench]
fn nar_validate_1000_files(b: divan::Bencher) {
    let nar = sample_tree().to_nar();
    b.bench(|| parse(Cursor::new(divan::black_box(&nar)), &mut Validate));
}

#[divan::bench(args = [HashAlgo::Md5, HashAlgo::Sha1, HashAlgo::Sha256, HashAlgo::Sha512])]
fn hash_1mib(b: divan::Bencher, algo: HashAlgo) {
    let data = vec![7u8; 1 << 20];
    b.counter(divan::counter::BytesCount::new(data.len()))
        .bench(|| Hash::of_bytes(algo, divan::black_box(&data)));
}
