//! Cryptographic hashes as Nix uses them: the four algorithms, streaming
//! computation, and every textual form C++ Nix reads and prints (base-16,
//! nix32, base-64, SRI, and the `algo:digest` prefix form).

use std::fmt;
use std::io::{self, Read, Write};

use data_encoding::{BASE64, HEXLOWER_PERMISSIVE};
use md5::Digest as _;
use thiserror::Error;

use crate::nixbase32;

/// A hash algorithm Nix knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgo {
    /// Every algorithm, in C++ Nix's order.
    pub const ALL: [HashAlgo; 4] = [
        HashAlgo::Md5,
        HashAlgo::Sha1,
        HashAlgo::Sha256,
        HashAlgo::Sha512,
    ];

    /// The name Nix prints and parses (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }

    /// Digest size in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgo::Md5 => 16,
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }

    /// Parses an algorithm name as C++ Nix does (exact, lower case).
    pub fn from_name(name: &str) -> Result<HashAlgo, HashError> {
        HashAlgo::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| HashError::UnknownAlgo(name.to_owned()))
    }
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a hash is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFormat {
    /// Lower-case hexadecimal.
    Base16,
    /// Nix's base-32 ([`nixbase32`]).
    Nix32,
    /// Standard base-64 with padding.
    Base64,
    /// Subresource integrity: `algo-<base64>`.
    Sri,
}

/// Everything that can be wrong with a hash string; the messages follow C++ Nix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashError {
    #[error("unknown hash algorithm '{0}'")]
    UnknownAlgo(String),
    #[error("hash '{0}' does not include a type, nor is the type otherwise known from context")]
    MissingAlgo(String),
    #[error("hash '{hash}' should have type '{expected}'")]
    WrongAlgo { hash: String, expected: HashAlgo },
    #[error("hash '{hash}' has wrong length for hash type '{algo}'")]
    WrongLength { hash: String, algo: HashAlgo },
    #[error("invalid {encoding} hash '{hash}'")]
    InvalidDigits {
        hash: String,
        encoding: &'static str,
    },
}

/// A digest together with its algorithm.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash {
    algo: HashAlgo,
    len: u8,
    bytes: [u8; 64],
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_string_with(HashFormat::Sri))
    }
}

impl Hash {
    /// Wraps a digest; `None` when its length does not fit the algorithm.
    pub fn from_digest(algo: HashAlgo, digest: &[u8]) -> Option<Hash> {
        if digest.len() != algo.digest_len() {
            return None;
        }
        let mut bytes = [0u8; 64];
        bytes[..digest.len()].copy_from_slice(digest);
        Some(Hash {
            algo,
            len: digest.len() as u8,
            bytes,
        })
    }

    pub fn algo(&self) -> HashAlgo {
        self.algo
    }

    /// The raw digest (possibly truncated, see [`Hash::truncate`]).
    pub fn digest(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Hashes a byte string in one go.
    pub fn of_bytes(algo: HashAlgo, data: &[u8]) -> Hash {
        let mut h = Hasher::new(algo);
        h.update(data);
        h.finish()
    }

    /// Hashes everything `reader` yields.
    pub fn of_reader(algo: HashAlgo, reader: &mut dyn Read) -> io::Result<Hash> {
        let mut h = Hasher::new(algo);
        io::copy(reader, &mut h)?;
        Ok(h.finish())
    }

    /// Folds the digest to `size` bytes by XOR, as C++ Nix's `compressHash`
    /// (used by `--truncate` and for store path hashes).
    pub fn truncate(&self, size: usize) -> Hash {
        if size >= self.len as usize {
            return *self;
        }
        let mut bytes = [0u8; 64];
        for (i, b) in self.digest().iter().enumerate() {
            bytes[i % size] ^= b;
        }
        Hash {
            algo: self.algo,
            len: size as u8,
            bytes,
        }
    }

    /// Prints the digest alone in `format` (SRI always carries its prefix).
    pub fn encode(&self, format: HashFormat) -> String {
        match format {
            HashFormat::Base16 => data_encoding::HEXLOWER.encode(self.digest()),
            HashFormat::Nix32 => nixbase32::encode(self.digest()),
            HashFormat::Base64 => BASE64.encode(self.digest()),
            HashFormat::Sri => format!("{}-{}", self.algo, BASE64.encode(self.digest())),
        }
    }

    /// Prints in `format` with the `algo:` prefix (SRI: `algo-`).
    pub fn to_string_with(&self, format: HashFormat) -> String {
        match format {
            HashFormat::Sri => self.encode(format),
            _ => [self.algo.name(), &self.encode(format)].join(":"),
        }
    }

    /// Parses any form C++ Nix's `Hash::parseAny` accepts: `algo:digest`,
    /// `algo-base64` (SRI), or a bare digest when `algo` is given. The digest
    /// encoding is chosen by its length.
    pub fn parse_any(s: &str, algo: Option<HashAlgo>) -> Result<Hash, HashError> {
        let (prefix, rest, is_sri) = match s.split_once(':') {
            Some((p, r)) => (Some(p), r, false),
            None => match s.split_once('-') {
                Some((p, r)) => (Some(p), r, true),
                None => (None, s, false),
            },
        };
        let parsed = prefix.map(HashAlgo::from_name).transpose()?;
        let algo = match (parsed, algo) {
            (None, None) => return Err(HashError::MissingAlgo(s.to_owned())),
            (Some(p), Some(a)) if p != a => {
                return Err(HashError::WrongAlgo {
                    hash: s.to_owned(),
                    expected: a,
                })
            }
            (Some(p), _) => p,
            (None, Some(a)) => a,
        };
        Self::parse_digest(rest, algo, is_sri)
    }

    /// Parses a bare digest of a known algorithm (no prefix).
    pub fn parse_bare(s: &str, algo: HashAlgo) -> Result<Hash, HashError> {
        Self::parse_digest(s, algo, false)
    }

    fn parse_digest(rest: &str, algo: HashAlgo, is_sri: bool) -> Result<Hash, HashError> {
        let len = algo.digest_len();
        let bad = |encoding| HashError::InvalidDigits {
            hash: rest.to_owned(),
            encoding,
        };
        let digest = if !is_sri && rest.len() == len * 2 {
            HEXLOWER_PERMISSIVE
                .decode(rest.as_bytes())
                .map_err(|_| bad("base-16"))?
        } else if !is_sri && rest.len() == nixbase32::encoded_len(len) {
            nixbase32::decode(rest.as_bytes()).map_err(|_| bad("base-32"))?
        } else if is_sri || rest.len() == BASE64.encode_len(len) {
            let encoding = if is_sri { "SRI" } else { "base-64" };
            BASE64.decode(rest.as_bytes()).map_err(|_| bad(encoding))?
        } else {
            return Err(HashError::WrongLength {
                hash: rest.to_owned(),
                algo,
            });
        };
        Hash::from_digest(algo, &digest).ok_or_else(|| bad(if is_sri { "SRI" } else { "base-64" }))
    }
}

/// Streaming hash computation for any [`HashAlgo`]; also an [`io::Write`]
/// sink so NARs and files can be written straight into it.
#[derive(Clone)]
pub enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(algo: HashAlgo) -> Hasher {
        match algo {
            HashAlgo::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgo::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgo::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgo::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Hash {
        let (algo, digest): (HashAlgo, Vec<u8>) = match self {
            Hasher::Md5(h) => (HashAlgo::Md5, h.finalize().to_vec()),
            Hasher::Sha1(h) => (HashAlgo::Sha1, h.finalize().to_vec()),
            Hasher::Sha256(h) => (HashAlgo::Sha256, h.finalize().to_vec()),
            Hasher::Sha512(h) => (HashAlgo::Sha512, h.finalize().to_vec()),
        };
        // The digest length always matches the algorithm here.
        Hash::from_digest(algo, &digest).expect("digest length matches its algorithm")
    }
}

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HELLO_SHA256: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

    #[test]
    fn digests_of_hello() {
        let h = Hash::of_bytes(HashAlgo::Sha256, b"hello\n");
        assert_eq!(h.encode(HashFormat::Base16), HELLO_SHA256);
        assert_eq!(
            Hash::of_bytes(HashAlgo::Md5, b"hello\n").encode(HashFormat::Base16),
            "b1946ac92492d2347c6235b4d2611184"
        );
        assert_eq!(
            h.to_string_with(HashFormat::Nix32),
            "sha256:00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq"
        );
        assert_eq!(
            h.to_string_with(HashFormat::Sri),
            "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="
        );
    }

    #[test]
    fn parse_forms() {
        let h = Hash::of_bytes(HashAlgo::Sha256, b"hello\n");
        for s in [
            format!("sha256:{HELLO_SHA256}"),
            format!("sha256:{}", HELLO_SHA256.to_uppercase()),
            "sha256:00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq".into(),
            "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=".into(),
            "sha256:WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=".into(),
        ] {
            assert_eq!(Hash::parse_any(&s, None).unwrap(), h, "{s}");
        }
        assert_eq!(
            Hash::parse_any(HELLO_SHA256, Some(HashAlgo::Sha256)).unwrap(),
            h
        );
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            Hash::parse_any("abc", Some(HashAlgo::Sha256))
                .unwrap_err()
                .to_string(),
            "hash 'abc' has wrong length for hash type 'sha256'"
        );
        assert_eq!(
            Hash::parse_any("abc", None).unwrap_err(),
            HashError::MissingAlgo("abc".into())
        );
        assert_eq!(
            Hash::parse_any("foo:abc", None).unwrap_err().to_string(),
            "unknown hash algorithm 'foo'"
        );
        assert!(matches!(
            Hash::parse_any(&format!("sha256:{HELLO_SHA256}"), Some(HashAlgo::Md5)),
            Err(HashError::WrongAlgo { .. })
        ));
        let bad16 = format!("sha256:{}", "g".repeat(64));
        assert!(matches!(
            Hash::parse_any(&bad16, None),
            Err(HashError::InvalidDigits {
                encoding: "base-16",
                ..
            })
        ));
        assert!(Hash::parse_any("sha256-AAAA", None).is_err());
        assert!(Hash::parse_any("md5:eeeeeeeeeeeeeeeeeeeeeeeeee", None).is_err());
    }

    #[test]
    fn truncation_folds_by_xor() {
        let h = Hash::of_bytes(HashAlgo::Sha256, b"hello\n");
        let t = h.truncate(20);
        assert_eq!(t.digest().len(), 20);
        let d = h.digest();
        for i in 0..20 {
            let mut x = d[i];
            if i + 20 < 32 {
                x ^= d[i + 20];
            }
            assert_eq!(t.digest()[i], x);
        }
    }

    fn any_hash() -> impl Strategy<Value = Hash> {
        (0usize..4, proptest::collection::vec(any::<u8>(), 64)).prop_map(|(i, bytes)| {
            let algo = HashAlgo::ALL[i];
            Hash::from_digest(algo, &bytes[..algo.digest_len()]).unwrap()
        })
    }

    proptest! {
        #[test]
        fn every_form_parses_back(h in any_hash()) {
            for format in [HashFormat::Base16, HashFormat::Nix32, HashFormat::Base64, HashFormat::Sri] {
                let s = h.to_string_with(format);
                prop_assert_eq!(Hash::parse_any(&s, None).unwrap(), h);
                if format != HashFormat::Sri {
                    prop_assert_eq!(Hash::parse_any(&h.encode(format), Some(h.algo())).unwrap(), h);
                }
            }
        }
    }
}
