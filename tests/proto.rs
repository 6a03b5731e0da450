//! The Rust code generated from `proto/*.proto` (messages, and the tonic
//! gRPC clients and servers of the services) is committed (so building
//! oxnix needs neither `protoc` nor the protobuf compiler crates); this test
//! regenerates it with `protox` + `tonic-prost-build` and fails when the committed
//! files are stale. `OXNIX_UPDATE_PROTO=1 cargo test --test proto` rewrites
//! them.

use std::path::Path;

/// (generated file name, where it is committed).
const OUTPUTS: &[(&str, &str)] = &[
    (
        "oxnix.castore.v1.rs",
        "src/castore/generated/oxnix.castore.v1.rs",
    ),
    ("oxnix.store.v1.rs", "src/store/generated/oxnix.store.v1.rs"),
];

#[test]
fn committed_protobuf_code_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fds = protox::compile(["castore.proto", "store.proto"], [root.join("proto")])
        .expect("proto files compile");
    // The castore messages on their own; the store messages refer to them
    // at their place in the crate.
    let out = tempfile::tempdir().unwrap();
    tonic_prost_build::configure()
        .out_dir(out.path())
        .compile_fds(fds.clone())
        .expect("tonic-prost-build generates code");
    let store_out = tempfile::tempdir().unwrap();
    tonic_prost_build::configure()
        .out_dir(store_out.path())
        .extern_path(".oxnix.castore.v1", "crate::castore::proto")
        .compile_fds(fds)
        .expect("tonic-prost-build generates code");
    let update = std::env::var_os("OXNIX_UPDATE_PROTO").is_some();
    let mut stale = Vec::new();
    for (i, (generated, committed)) in OUTPUTS.iter().enumerate() {
        let dir = if i == 0 { out.path() } else { store_out.path() };
        let fresh = std::fs::read(dir.join(generated)).unwrap();
        let path = root.join(committed);
        if std::fs::read(&path).ok().as_deref() != Some(fresh.as_slice()) {
            if update {
                std::fs::write(&path, &fresh).unwrap();
            } else {
                stale.push(*committed);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated protobuf code {stale:?}: run `OXNIX_UPDATE_PROTO=1 cargo test --test proto` and commit"
    );
}
