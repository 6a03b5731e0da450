//! oxnix: a Nix-compatible command suite (`nix-instantiate`, `nix-store`,
//! `nix-hash`). This library holds the Nix formats (nix32, hashes, store
//! paths, NAR, derivations), the Nix language evaluator (`eval`), oxnix's
//! content-addressed store (`castore`, `store`) and the command front ends
//! (`cli`); see `ARCHITECTURE.md` for the layers.

// What is `pub` is reachable from outside the crate, or says so.
#![warn(unreachable_pub)]

pub mod castore;
pub mod cli;
pub mod derivation;
pub mod eval;
pub mod fetch;
pub mod hash;
pub mod hash_pipeline;
pub mod log;
pub mod nar;
pub mod nixbase32;
pub mod os_error;
pub mod store;
pub mod store_path;

mod allocator;

/// The evaluator allocates and frees many small objects (thunks, scopes,
/// frames); mimalloc serves them markedly faster than glibc's malloc.
#[global_allocator]
static ALLOCATOR: allocator::MiMalloc = allocator::MiMalloc;
