//! The mount's readahead window: the kernel starts every FUSE mount with
//! 128 KiB and lets the server lower it, not raise it, so a large file is
//! read in 128 KiB requests, each a round trip. Where we may (as root), the
//! mount's own backing device info (`/sys/class/bdi/MAJOR:MINOR`, which no
//! other file system shares) is given the largest request the mount takes,
//! 1 MiB, a quarter of the requests.

use std::fs;
use std::io;
use std::path::Path;

/// The largest read request of the mount (`max_pages` of 256 pages).
const WINDOW_KB: u32 = 1024;

/// Raises the readahead window of the FUSE mount on `mountpoint`. Call it
/// after the kernel has had the answer to INIT, which would lower it again.
pub(super) fn raise(mountpoint: &Path) -> io::Result<()> {
    let info = fs::read_to_string("/proc/self/mountinfo")?;
    let dev = device_of(&info, mountpoint)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "mount point not in mountinfo"))?;
    fs::write(
        format!("/sys/class/bdi/{dev}/read_ahead_kb"),
        WINDOW_KB.to_string(),
    )
}

/// The `MAJOR:MINOR` of the last mount on `mountpoint` in a mountinfo text.
fn device_of(mountinfo: &str, mountpoint: &Path) -> Option<String> {
    let wanted = mountpoint.as_os_str().as_encoded_bytes();
    mountinfo.lines().rev().find_map(|line| {
        let mut fields = line.split(' ');
        let dev = fields.nth(2)?;
        let point = fields.nth(1)?;
        (unescape(point) == wanted).then(|| dev.to_owned())
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_mount_on_a_point() {
        let info = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                    40 22 0:39 / /tmp/a\\040b rw - fuse.oxnix oxnix rw\n\
                    41 40 0:40 / /tmp/a\\040b rw - fuse.oxnix oxnix rw\n";
        assert_eq!(
            device_of(info, Path::new("/tmp/a b")).as_deref(),
            Some("0:40")
        );
        assert_eq!(device_of(info, Path::new("/tmp/a")), None);
        assert_eq!(unescape("a\\134b\\01"), b"a\\b\\01");
    }
}
