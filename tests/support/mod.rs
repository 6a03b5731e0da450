//! Helpers shared by the test files that run C++ Nix's daemon.

use std::path::Path;
use std::time::{Duration, Instant};

/// Waits until C++ Nix's daemon answers on `socket`. Its socket file
/// appears at bind, a moment before it listens; the probe's handler is let
/// finish first (it opens the store, and two first openings of a new store
/// at once fail in C++ Nix 2.8).
pub fn wait_for_cpp_daemon(socket: &Path) {
    let answers = || {
        use std::io::Read;
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
            return false;
        };
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = s.read_to_end(&mut Vec::new());
        true
    };
    let start = Instant::now();
    while !answers() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nix-daemon did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
