//! Builtins that read the environment and the file system.

#[allow(unused_imports)]
use super::core::{arg, sync};

builtins! {}
