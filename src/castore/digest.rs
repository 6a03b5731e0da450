//! [`B3Digest`]: a 32-byte BLAKE3 digest, the address of blobs and
//! directories. Printed as lower-case hexadecimal.

use std::fmt;

/// A BLAKE3 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct B3Digest([u8; 32]);

impl B3Digest {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: [u8; 32]) -> B3Digest {
        B3Digest(bytes)
    }

    /// `None` unless `bytes` is exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<B3Digest> {
        <[u8; 32]>::try_from(bytes).ok().map(B3Digest)
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> B3Digest {
        B3Digest(*blake3::hash(data).as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hexadecimal (64 characters).
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }

    /// Parses 64 hexadecimal digits.
    pub fn from_hex(s: &str) -> Option<B3Digest> {
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .ok()
            .and_then(|v| Self::from_slice(&v))
    }
}

impl From<blake3::Hash> for B3Digest {
    fn from(h: blake3::Hash) -> Self {
        B3Digest(*h.as_bytes())
    }
}

impl fmt::Display for B3Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b3:{}", self.to_hex())
    }
}

impl fmt::Debug for B3Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_and_hex_round_trip() {
        let d = B3Digest::of(b"");
        assert_eq!(
            d.to_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(B3Digest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(B3Digest::from_hex("abc"), None);
        assert_eq!(B3Digest::from_slice(&[0; 31]), None);
    }
}
