//! Hash builtins: `hashString` and `hashFile` (C++ Nix 2.8) and
//! `convertHash` (newer Nix), on top of [`crate::hash`].

use super::args::{attrs_arg, name_arg, string_arg, sync};
use crate::eval::error::ErrorKind;
use crate::eval::value::{NixString, Value};
use crate::eval::vm::{Co, GenFuture};
use crate::hash::{Hash, HashAlgo, HashFormat};
use crate::os_error;

builtins! {
    #[fast(hash_string_fast)] "hashString" => hash_string, "hashFile" => hash_file, "convertHash" => convert_hash,
}

/// An algorithm name as C++ Nix's `parseHashType` reads it; an unknown
/// one is a usage error (no position, with the `--help` hint).
fn algo_of(name: &NixString) -> Result<HashAlgo, ErrorKind> {
    std::str::from_utf8(name.as_bytes())
        .ok()
        .and_then(|n| HashAlgo::from_name(n).ok())
        .ok_or_else(|| ErrorKind::Usage(format!("unknown hash algorithm '{name}'")))
}

/// The base-16 digest of `s` by `algo`, as a string.
fn hex_digest(algo: HashAlgo, s: &NixString) -> Value {
    Value::string(Hash::of_bytes(algo, s.as_bytes()).encode(HashFormat::Base16))
}

/// `hashString`'s fast path: a known algorithm named without context and
/// the string evaluated.
fn hash_string_fast([algo, s]: &[Value; 2]) -> Option<Value> {
    let (Value::String(algo), Value::String(s)) =
        (super::fast::ready(algo)?, super::fast::ready(s)?)
    else {
        return None;
    };
    if algo.has_context() {
        return None;
    }
    Some(hex_digest(algo_of(&algo).ok()?, &s))
}

/// `builtins.hashString algo s`: the base-16 digest of `s`. The algorithm
/// is checked before `s` is evaluated, as in C++ Nix.
fn hash_string(co: Co, [algo, s]: [Value; 2]) -> GenFuture {
    sync(async move {
        let algo = algo_of(&name_arg(&co, algo).await?)?;
        Ok(hex_digest(algo, &string_arg(&co, s).await?))
    })
}

/// `builtins.hashFile algo path`: the base-16 digest of the file's
/// contents (symlinks followed).
fn hash_file(co: Co, [algo, path]: [Value; 2]) -> GenFuture {
    sync(async move {
        let algo = algo_of(&name_arg(&co, algo).await?)?;
        let path = super::io::realised_path(&co, path).await?;
        let hash = super::io::io_call(&co, move |io| {
            let mut file = io.open_file(&path).map_err(|e| {
                ErrorKind::Unlocated(format!(
                    "opening file '{}': {}",
                    path.display(),
                    os_error::message(&e)
                ))
            })?;
            Hash::of_reader(algo, &mut file).map_err(|e| {
                ErrorKind::Unlocated(format!("reading from file: {}", os_error::message(&e)))
            })
        })
        .await??;
        Ok(Value::string(hash.encode(HashFormat::Base16)))
    })
}

/// A `toHashFormat` name as newer C++ Nix's `parseHashFormat` reads it
/// (`base32` is a deprecated alias of `nix32`, with a warning).
fn format_of(name: &NixString) -> Result<HashFormat, ErrorKind> {
    match name.as_bytes() {
        b"base16" => Ok(HashFormat::Base16),
        b"nix32" => Ok(HashFormat::Nix32),
        b"base32" => {
            crate::log::warning("\"base32\" is a deprecated alias for hash format \"nix32\".");
            Ok(HashFormat::Nix32)
        }
        b"base64" => Ok(HashFormat::Base64),
        b"sri" => Ok(HashFormat::Sri),
        _ => Err(ErrorKind::Usage(format!(
            "unknown hash format '{name}', expect 'base16', 'base32', 'base64', or 'sri'"
        ))),
    }
}

/// `builtins.convertHash { hash; hashAlgo ? ; toHashFormat; }`: `hash` in
/// any form C++ Nix parses (`algo:digest`, SRI, or a bare digest whose
/// algorithm `hashAlgo` names), printed in `toHashFormat` (only SRI keeps
/// the algorithm).
fn convert_hash(co: Co, [attrs]: [Value; 1]) -> GenFuture {
    sync(async move {
        let attrs = attrs_arg(&co, attrs).await?;
        let get = |name: &str| attrs.get(&NixString::from(name)).cloned();
        let missing = |name: &str| ErrorKind::AttributeMissing {
            name: name.into(),
            hint: String::new(),
        };
        let hash = string_arg(&co, get("hash").ok_or_else(|| missing("hash"))?).await?;
        let algo = match get("hashAlgo") {
            Some(v) => Some(algo_of(&string_arg(&co, v).await?)?),
            None => None,
        };
        let format_name = string_arg(
            &co,
            get("toHashFormat").ok_or_else(|| missing("toHashFormat"))?,
        )
        .await?;
        let format = format_of(&format_name)?;
        let text = hash.to_str_lossy();
        let parsed = Hash::parse_any(&text, algo).map_err(|e| ErrorKind::Other(e.to_string()))?;
        Ok(Value::string(parsed.encode(format)))
    })
}
