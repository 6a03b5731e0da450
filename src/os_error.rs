//! I/O error text as C++ Nix prints it: the OS message alone ("No such file
//! or directory"), without Rust's "(os error N)" suffix.

use std::io;

/// The message of `e` without the `(os error N)` suffix.
pub fn message(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}
