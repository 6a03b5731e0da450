//! String, regular-expression, version and JSON builtins.

#[allow(unused_imports)]
use super::core::{arg, sync};

builtins! {}
