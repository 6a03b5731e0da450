//! Getting what the fetchers (`builtins.fetchurl`, `builtins.fetchTarball`)
//! name onto local disk: downloading a `file://`, `http://` or `https://`
//! URL to a file, and unpacking a tarball (plain, gzip, xz, bzip2 or
//! zstd, told apart by their first bytes as C++ Nix's libarchive does).
//! Adding the result to a store is the caller's (`cli::eval_store`).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// Why a fetch failed, worded as C++ Nix 2.8 words it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unable to download '{url}': {reason}")]
    Download { url: String, reason: String },
    #[error("tarball '{url}' contains an unexpected number of top-level files")]
    TopLevel { url: String },
    #[error("failed to extract archive '{url}': {reason}")]
    Unpack { url: String, reason: String },
    #[error("{0}")]
    Io(String),
}

/// How long a download may take to connect and to go quiet (C++ Nix's
/// `connect-timeout` is unset by default and its `stalled-download-timeout`
/// is 300 s).
const STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Writes what `url` answers into `dest` (created).
pub fn download(url: &str, dest: &Path) -> Result<(), FetchError> {
    let fail = |reason: String| FetchError::Download {
        url: url.to_owned(),
        reason,
    };
    let io_fail = |e: io::Error| FetchError::Io(format!("writing '{}': {e}", dest.display()));
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("file") => {
            let path = file_url_path(url)
                .ok_or_else(|| fail("URL using bad/illegal format or missing URL (3)".into()))?;
            // curl's wording for any file it cannot read.
            let mut from =
                File::open(&path).map_err(|_| fail("Couldn't read a file:// file (37)".into()))?;
            let mut to = File::create(dest).map_err(io_fail)?;
            // A directory reads as nothing, as curl reads it.
            if !from.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                io::copy(&mut from, &mut to).map_err(|e| fail(e.to_string()))?;
            }
            to.sync_all().map_err(io_fail)
        }
        Some("http") | Some("https") => {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .tls_config(
                    ureq::tls::TlsConfig::builder()
                        .root_certs(root_certs())
                        .build(),
                )
                .timeout_connect(Some(STALL_TIMEOUT))
                .timeout_recv_body(Some(STALL_TIMEOUT))
                .user_agent(concat!("oxnix/", env!("CARGO_PKG_VERSION")))
                .build()
                .into();
            let response = agent.get(url).call().map_err(|e| fail(http_reason(&e)))?;
            let mut body = response.into_body();
            let mut reader = body.with_config().limit(u64::MAX).reader();
            let mut to = File::create(dest).map_err(io_fail)?;
            io::copy(&mut reader, &mut to).map_err(|e| fail(e.to_string()))?;
            to.sync_all().map_err(io_fail)
        }
        Some(other) => Err(fail(format!(
            "not yet supported by oxnix: downloading '{other}' URLs"
        ))),
        None => Err(fail(
            "URL using bad/illegal format or missing URL (3)".into(),
        )),
    }
}

/// The certificate authorities HTTPS downloads trust: those of
/// `$NIX_SSL_CERT_FILE` (C++ Nix's `ssl-cert-file`) and of
/// `$SSL_CERT_FILE` (which OpenSSL, under C++ Nix's curl, reads too), or
/// when neither is set the system's bundle (`/etc/ssl/certs/ca-certificates.crt`,
/// or a Nix profile's); Mozilla's list when that finds no certificate.
fn root_certs() -> ureq::tls::RootCerts {
    let mut files: Vec<PathBuf> = ["NIX_SSL_CERT_FILE", "SSL_CERT_FILE"]
        .into_iter()
        .filter_map(|v| {
            std::env::var_os(v)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        })
        .collect();
    if files.is_empty() {
        files.extend(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/nix/var/nix/profiles/default/etc/ssl/certs/ca-bundle.crt",
            ]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists()),
        );
    }
    let mut certs: Vec<ureq::tls::Certificate<'static>> = Vec::new();
    for file in files {
        let Ok(pem) = std::fs::read(&file) else {
            continue;
        };
        certs.extend(ureq::tls::parse_pem(&pem).filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        }));
    }
    if certs.is_empty() {
        ureq::tls::RootCerts::WebPki
    } else {
        ureq::tls::RootCerts::from(certs)
    }
}

/// The local path of a `file://` URL (`file:///p` or `file://localhost/p`),
/// percent-decoded as curl decodes it.
fn file_url_path(url: &str) -> Option<PathBuf> {
    let rest = &url["file://".len()..];
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

/// curl's words for what went wrong, where C++ Nix shows them (the HTTP
/// status, a refused connection, an unknown host).
fn http_reason(e: &ureq::Error) -> String {
    match e {
        ureq::Error::StatusCode(code) => {
            let reason = ureq::http::StatusCode::from_u16(*code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            format!("HTTP error {code} ('{reason}')")
        }
        ureq::Error::HostNotFound => "Couldn't resolve host name (6)".into(),
        ureq::Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => {
            "Couldn't connect to server (7)".into()
        }
        ureq::Error::Timeout(_) => "Timeout was reached (28)".into(),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => {
            format!("SSL peer certificate or SSH remote key was not OK (60): {e}")
        }
        // rustls's refusal of a certificate, handed on as an I/O error.
        ureq::Error::Io(io) if io.to_string().contains("certificate") => {
            format!("SSL peer certificate or SSH remote key was not OK (60): {io}")
        }
        other => other.to_string(),
    }
}

/// Compressions a tarball may come in, by their first bytes.
fn decompressed<'a>(file: File) -> io::Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::new(file);
    let head = {
        use std::io::BufRead;
        r.fill_buf()?.iter().take(6).copied().collect::<Vec<u8>>()
    };
    Ok(if head.starts_with(b"PK\x03\x04") {
        return Err(io::Error::other("not yet supported by oxnix: zip archives"));
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(r))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(xz2::read::XzDecoder::new_multi_decoder(r))
    } else if head.starts_with(b"BZh") {
        Box::new(bzip2::read::MultiBzDecoder::new(r))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(r)?)
    } else {
        Box::new(r)
    })
}

/// Unpacks tarball `archive` (downloaded from `url`) into the new
/// directory `into`, and answers its one top-level entry, as C++ Nix's
/// `downloadTarball` requires.
pub fn unpack(url: &str, archive: &Path, into: &Path) -> Result<PathBuf, FetchError> {
    let bad = |reason: String| FetchError::Unpack {
        url: url.to_owned(),
        reason,
    };
    let file = File::open(archive)
        .map_err(|e| FetchError::Io(format!("opening '{}': {e}", archive.display())))?;
    let reader = decompressed(file).map_err(|e| bad(e.to_string()))?;
    std::fs::create_dir_all(into)
        .map_err(|e| FetchError::Io(format!("creating '{}': {e}", into.display())))?;
    let mut tar = tar::Archive::new(reader);
    tar.set_preserve_permissions(false);
    tar.set_preserve_mtime(false);
    tar.set_unpack_xattrs(false);
    tar.set_overwrite(true);
    // (Directories' permissions are set once their contents are in.)
    tar.unpack(into).map_err(|e| bad(e.to_string()))?;
    let mut top = std::fs::read_dir(into)
        .map_err(|e| FetchError::Io(format!("reading '{}': {e}", into.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| FetchError::Io(format!("reading '{}': {e}", into.display())))?;
    if top.len() != 1 {
        return Err(FetchError::TopLevel {
            url: url.to_owned(),
        });
    }
    let only = top.pop().map(|e| e.path()).unwrap_or_default();
    make_readable(&only).map_err(|e| FetchError::Io(format!("unpacking '{url}': {e}")))?;
    Ok(only)
}

/// Gives the owner read (and, for directories, write and search) access
/// everywhere below `root`, as libarchive's extraction leaves a tree (a
/// tarball may list a directory as read-only before its contents).
fn make_readable(root: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        let want = if meta.is_dir() {
            mode | 0o700
        } else {
            mode | 0o600
        };
        if want != mode {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(want))?;
        }
        if meta.is_dir() {
            for e in std::fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_percent_decoded() {
        assert_eq!(
            file_url_path("file:///a/b%20c.txt"),
            Some(PathBuf::from("/a/b c.txt"))
        );
        assert_eq!(
            file_url_path("file://localhost/x?y=1"),
            Some(PathBuf::from("/x"))
        );
        assert_eq!(file_url_path("file://host/x"), None);
        assert_eq!(
            file_url_path("file:///bad%zz"),
            Some(PathBuf::from("/bad%zz"))
        );
    }

    /// A tar archive of `entries` (path, contents).
    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, *data).expect("entry");
        }
        b.into_inner().expect("tar")
    }

    #[test]
    fn unpacks_every_compression_and_checks_the_top_level() {
        let tmp = tempfile::tempdir().expect("tmp");
        let plain = tar_of(&[("top/a", b"x"), ("top/b/c", b"y")]);
        let zstd = zstd::encode_all(&plain[..], 3).expect("zstd");
        let mut xz = Vec::new();
        xz2::read::XzEncoder::new(&plain[..], 6)
            .read_to_end(&mut xz)
            .expect("xz");
        let mut bz = Vec::new();
        bzip2::read::BzEncoder::new(&plain[..], bzip2::Compression::default())
            .read_to_end(&mut bz)
            .expect("bzip2");
        let mut gz = Vec::new();
        flate2::read::GzEncoder::new(&plain[..], flate2::Compression::default())
            .read_to_end(&mut gz)
            .expect("gzip");
        for (i, bytes) in [plain.clone(), zstd, xz, bz, gz].iter().enumerate() {
            let archive = tmp.path().join(format!("a{i}"));
            std::fs::write(&archive, bytes).expect("write");
            let into = tmp.path().join(format!("u{i}"));
            let top = unpack("u", &archive, &into).expect("unpack");
            assert_eq!(top, into.join("top"));
            assert_eq!(std::fs::read(top.join("b/c")).expect("read"), b"y");
        }
        let two = tmp.path().join("two");
        std::fs::write(&two, tar_of(&[("a", b"1"), ("b", b"2")])).expect("write");
        assert!(matches!(
            unpack("u", &two, &tmp.path().join("u-two")),
            Err(FetchError::TopLevel { .. })
        ));
        let zip = tmp.path().join("zip");
        std::fs::write(&zip, b"PK\x03\x04rest").expect("write");
        let e = unpack("u", &zip, &tmp.path().join("u-zip")).expect_err("zip");
        assert!(
            e.to_string().contains("not yet supported by oxnix: zip"),
            "{e}"
        );
    }
}
