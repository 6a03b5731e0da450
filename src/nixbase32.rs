//! Nix's own base-32 encoding ("nix32"): the alphabet without `e o u t`,
//! written from the last 5-bit group to the first, as store path hashes and
//! `--base32` hashes use it.

use thiserror::Error;

/// The 32 characters, in digit order.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

const INVALID: u8 = 0xff;

const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 32 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Why a nix32 string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("invalid character {0:?} in nix32 string")]
    InvalidChar(char),
    #[error("nix32 string of length {0} does not encode a whole number of bytes")]
    InvalidLength(usize),
    #[error("nix32 string has non-zero trailing bits")]
    TrailingBits,
}

/// Length of the encoding of `len` bytes.
pub const fn encoded_len(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (len * 8 - 1) / 5 + 1
    }
}

/// Number of bytes a valid encoding of `len` characters holds.
pub const fn decoded_len(len: usize) -> usize {
    len * 5 / 8
}

/// Encodes `input` as nix32.
pub fn encode(input: &[u8]) -> String {
    let len = encoded_len(input.len());
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let low = input[i] as u16 >> j;
        let high = match input.get(i + 1) {
            Some(&next) => (next as u16) << (8 - j),
            None => 0,
        };
        out.push(ALPHABET[((low | high) & 0x1f) as usize] as char);
    }
    out
}

/// Decodes a nix32 string; rejects foreign characters, lengths that are not
/// the encoding of a whole number of bytes, and non-zero unused bits.
pub fn decode(input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let out_len = decoded_len(input.len());
    if encoded_len(out_len) != input.len() {
        return Err(DecodeError::InvalidLength(input.len()));
    }
    let mut out = vec![0u8; out_len];
    decode_into(input, &mut out)?;
    Ok(out)
}

/// Decodes into a fixed-size array (e.g. the 20 bytes of a store path hash).
pub fn decode_fixed<const N: usize>(input: &[u8]) -> Result<[u8; N], DecodeError> {
    if input.len() != encoded_len(N) {
        return Err(DecodeError::InvalidLength(input.len()));
    }
    let mut out = [0u8; N];
    decode_into(input, &mut out)?;
    Ok(out)
}

fn decode_into(input: &[u8], out: &mut [u8]) -> Result<(), DecodeError> {
    for (n, &c) in input.iter().rev().enumerate() {
        let digit = DECODE[c as usize];
        if digit == INVALID {
            return Err(DecodeError::InvalidChar(c as char));
        }
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        out[i] |= digit << j;
        let carry = (digit as u16) >> (8 - j);
        if i + 1 < out.len() {
            out[i + 1] |= carry as u8;
        } else if carry != 0 {
            return Err(DecodeError::TrailingBits);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vectors() {
        assert_eq!(encode(b""), "");
        // sha256 of "hello\n" as printed by `nix-hash --flat --base32 --type sha256`.
        let digest = data_encoding::HEXLOWER
            .decode(b"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
            .unwrap();
        assert_eq!(
            encode(&digest),
            "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq"
        );
        assert_eq!(
            decode(b"00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq").unwrap(),
            digest
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(decode(b"e0"), Err(DecodeError::InvalidChar('e')));
        assert_eq!(decode(b"0"), Err(DecodeError::InvalidLength(1)));
        // Two characters hold one byte plus two spare bits: "z0" sets them.
        assert_eq!(decode(b"z0"), Err(DecodeError::TrailingBits));
        assert!(decode_fixed::<20>(b"abc").is_err());
    }

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let s = encode(&bytes);
            prop_assert_eq!(s.len(), encoded_len(bytes.len()));
            prop_assert_eq!(decode(s.as_bytes()).unwrap(), bytes);
        }
    }
}
