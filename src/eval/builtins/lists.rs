//! List and attribute-set builtins beyond the core ones.

#[allow(unused_imports)]
use super::core::{arg, sync};

builtins! {}
