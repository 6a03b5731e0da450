//! `nix-store --generate-binary-cache-key NAME SECRET-FILE PUBLIC-FILE`:
//! a new Ed25519 key pair in C++ Nix's text form, `NAME:BASE64`, where the
//! secret key is libsodium's 64 bytes (the seed, then the public key) and
//! the public key its 32 bytes. Written as C++ Nix 2.8 writes them: the
//! public key first (mode 0666 less the umask), then the secret key
//! (mode 0600 when the file is new), without a newline.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use data_encoding::BASE64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};

use super::super::CliError;

/// The operation, given its flags and operands.
pub(super) fn generate(flags: &[String], operands: &[std::path::PathBuf]) -> Result<(), CliError> {
    if let Some(f) = flags.first() {
        return Err(CliError::Usage(format!("unknown flag '{f}'")));
    }
    let [name, secret_file, public_file] = operands else {
        return Err(CliError::Usage("three arguments expected".into()));
    };
    let name = name.to_string_lossy();
    let (secret, public) = key_pair()?;
    write_key(
        public_file,
        0o666,
        &format!("{name}:{}", BASE64.encode(&public)),
    )?;
    write_key(
        secret_file,
        0o600,
        &format!("{name}:{}", BASE64.encode(&secret)),
    )
}

/// A fresh key pair from the system's random source: (secret, public).
fn key_pair() -> Result<([u8; 64], [u8; 32]), CliError> {
    let mut seed = [0u8; 32];
    SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| CliError::Failed("key generation failed".into()))?;
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
        .map_err(|_| CliError::Failed("key generation failed".into()))?;
    let mut public = [0u8; 32];
    public.copy_from_slice(pair.public_key().as_ref());
    let mut secret = [0u8; 64];
    secret[..32].copy_from_slice(&seed);
    secret[32..].copy_from_slice(&public);
    Ok((secret, public))
}

fn write_key(path: &Path, mode: u32, text: &str) -> Result<(), CliError> {
    let failed = |what: &str, e: std::io::Error| {
        CliError::Failed(format!(
            "{what} '{}': {}",
            path.display(),
            crate::os_error::message(&e)
        ))
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| failed("opening file", e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| failed("writing to file", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, ED25519};

    #[test]
    fn the_secret_key_signs_what_the_public_key_verifies() {
        let (secret, public) = key_pair().unwrap();
        assert_eq!(&secret[32..], &public[..]);
        let pair = Ed25519KeyPair::from_seed_unchecked(&secret[..32]).unwrap();
        let sig = pair.sign(b"1;/nix/store/x;sha256:y;0;");
        UnparsedPublicKey::new(&ED25519, public)
            .verify(b"1;/nix/store/x;sha256:y;0;", sig.as_ref())
            .unwrap();
        assert_ne!(key_pair().unwrap().0, secret);
    }
}
