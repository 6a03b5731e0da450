//! Reading `/proc/self/mountinfo`: which device is mounted on a path.

use std::io;
use std::path::Path;

/// The `MAJOR:MINOR` of what is mounted on `mountpoint` (the last mount
/// there), or `None` when nothing is.
pub(super) fn device_of(mountpoint: &Path) -> io::Result<Option<String>> {
    Ok(device_in(
        &std::fs::read_to_string("/proc/self/mountinfo")?,
        mountpoint,
    ))
}

/// The `MAJOR:MINOR` of the last mount on `mountpoint` in a mountinfo text.
fn device_in(mountinfo: &str, mountpoint: &Path) -> Option<String> {
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
            device_in(info, Path::new("/tmp/a b")).as_deref(),
            Some("0:40")
        );
        assert_eq!(device_in(info, Path::new("/tmp/a")), None);
        assert_eq!(unescape("a\\134b\\01"), b"a\\b\\01");
    }
}
