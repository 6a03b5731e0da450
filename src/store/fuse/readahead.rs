//! The mount's readahead window: the kernel starts every FUSE mount with
//! 128 KiB and lets the server lower it, not raise it, so a large file is
//! read in 128 KiB requests, each a round trip. Where we may (as root), the
//! mount's own backing device info (`/sys/class/bdi/MAJOR:MINOR`, which no
//! other file system shares) is given the largest request the mount takes,
//! 1 MiB, a quarter of the requests.

use std::fs;
use std::io;
use std::path::Path;

use super::mountinfo::device_of;

/// The largest read request of the mount (`max_pages` of 256 pages).
const WINDOW_KB: u32 = 1024;

/// Raises the readahead window of the FUSE mount on `mountpoint`. Call it
/// after the kernel has had the answer to INIT, which would lower it again.
pub(super) fn raise(mountpoint: &Path) -> io::Result<()> {
    let dev = device_of(mountpoint)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "mount point not in mountinfo"))?;
    fs::write(
        format!("/sys/class/bdi/{dev}/read_ahead_kb"),
        WINDOW_KB.to_string(),
    )
}
