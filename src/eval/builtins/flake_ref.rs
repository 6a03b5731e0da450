//! Flake references (newer Nix): the URL form and the attribute form, for
//! the kinds that need no file system: `github:`/`gitlab:`/`sourcehut:`,
//! indirect (`flake:` and bare ids), `path:`, `git+…`/`hg+…`, and
//! tarball/file URLs; parsed and printed as C++ Nix's `fetchers` do.

use std::collections::BTreeMap;

use crate::eval::error::ErrorKind;

/// A flake reference attribute: C++ Nix's `fetchers::Attr`.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Attr {
    Str(String),
    Int(u64),
    Bool(bool),
}

pub(super) type FlakeAttrs = BTreeMap<String, Attr>;

fn bad(msg: String) -> ErrorKind {
    ErrorKind::Other(msg)
}

/// A URL split as C++ Nix's `parseURL` does (query decoded, sorted).
struct Url {
    scheme: String,
    authority: Option<String>,
    path: String,
    query: BTreeMap<String, String>,
}

impl Url {
    fn parse(s: &str) -> Result<Url, ErrorKind> {
        let invalid = || bad(format!("'{s}' is not a valid URL"));
        let (scheme, rest) = s.split_once(':').ok_or_else(invalid)?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok {
            return Err(invalid());
        }
        if rest.contains('#') {
            let fragment = rest.split_once('#').map(|(_, f)| f).unwrap_or("");
            return Err(bad(format!(
                "unexpected fragment '{fragment}' in flake reference '{s}'"
            )));
        }
        let (before_query, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.strip_prefix("//") {
            Some(r) => match r.find('/') {
                Some(i) => (Some(r[..i].to_owned()), r[i..].to_owned()),
                None => (Some(r.to_owned()), String::new()),
            },
            None => (None, before_query.to_owned()),
        };
        let mut q = BTreeMap::new();
        for part in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            q.entry(percent_decode(k)?).or_insert(percent_decode(v)?);
        }
        Ok(Url {
            scheme: scheme.to_owned(),
            authority,
            path: percent_decode(&path)?,
            query: q,
        })
    }

    fn base(&self) -> String {
        let mut s = format!("{}:", self.scheme);
        if let Some(a) = &self.authority {
            s.push_str("//");
            s.push_str(a);
        }
        s.push_str(&self.path);
        s
    }

    fn render(&self) -> String {
        let mut s = self.base();
        if !self.query.is_empty() {
            s.push('?');
            let parts: Vec<String> = self
                .query
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        percent_encode(k, ":@/?"),
                        percent_encode(v, ":@/?")
                    )
                })
                .collect();
            s.push_str(&parts.join("&"));
        }
        s
    }
}

fn percent_decode(s: &str) -> Result<String, ErrorKind> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("invalid URI parameter '{s}'")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(format!("invalid URI parameter '{s}'")))
}

/// Percent-encodes all but unreserved characters and those in `keep`.
fn percent_encode(s: &str, keep: &str) -> String {
    let mut out = String::new();
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) || keep.as_bytes().contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

fn is_rev(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|c| c.is_ascii_hexdigit())
}

fn is_ref(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '@')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_./@+-".contains(c))
}

fn is_flake_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
}

fn is_host(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
}

fn s(v: &str) -> Attr {
    Attr::Str(v.to_owned())
}

/// `github:owner/repo(/ref-or-rev)(?rev=…&ref=…&host=…)`.
fn git_archive_from_url(url: &Url, original: &str) -> Result<FlakeAttrs, ErrorKind> {
    let path: Vec<&str> = url.path.split('/').filter(|p| !p.is_empty()).collect();
    let mut rev = None;
    let mut r#ref = None;
    let mut host = None;
    match path.len() {
        0 | 1 => return Err(bad(format!("URL '{original}' is invalid"))),
        2 => {}
        3 if is_rev(path[2]) => rev = Some(path[2].to_ascii_lowercase()),
        3 if is_ref(path[2]) => r#ref = Some(path[2].to_owned()),
        3 => {
            return Err(bad(format!(
                "in URL '{original}', '{}' is not a commit hash or branch/tag name",
                path[2]
            )))
        }
        _ => {
            let rest = path[2..].join("/");
            if !is_ref(&rest) {
                return Err(bad(format!(
                    "in URL '{original}', '{rest}' is not a branch/tag name"
                )));
            }
            r#ref = Some(rest);
        }
    }
    for (name, value) in &url.query {
        match name.as_str() {
            "rev" => {
                if rev.is_some() {
                    return Err(bad(format!(
                        "URL '{original}' contains multiple commit hashes"
                    )));
                }
                if !is_rev(value) {
                    return Err(bad(format!("hash '{value}' is not a valid commit hash")));
                }
                rev = Some(value.to_ascii_lowercase());
            }
            "ref" => {
                if !is_ref(value) {
                    return Err(bad(format!(
                        "URL '{original}' contains an invalid branch/tag name"
                    )));
                }
                if r#ref.is_some() {
                    return Err(bad(format!(
                        "URL '{original}' contains multiple branch/tag names"
                    )));
                }
                r#ref = Some(value.clone());
            }
            "host" => {
                if !is_host(value) {
                    return Err(bad(format!(
                        "URL '{original}' contains an invalid instance host"
                    )));
                }
                host = Some(value.clone());
            }
            _ => {}
        }
    }
    if let (Some(r), Some(v)) = (&r#ref, &rev) {
        return Err(bad(format!(
            "URL '{original}' contains both a commit hash and a branch/tag name {r} {v}"
        )));
    }
    let mut attrs = FlakeAttrs::new();
    attrs.insert("type".into(), s(&url.scheme));
    attrs.insert("owner".into(), s(path[0]));
    attrs.insert("repo".into(), s(path[1]));
    if let Some(v) = rev {
        attrs.insert("rev".into(), Attr::Str(v));
    }
    if let Some(r) = r#ref {
        attrs.insert("ref".into(), Attr::Str(r));
    }
    if let Some(h) = host {
        attrs.insert("host".into(), Attr::Str(h));
    }
    Ok(attrs)
}

/// `flake:id(/ref)(/rev)`.
fn indirect_from_url(url: &Url, original: &str) -> Result<FlakeAttrs, ErrorKind> {
    let path: Vec<&str> = url.path.split('/').filter(|p| !p.is_empty()).collect();
    let mut attrs = FlakeAttrs::new();
    match path.len() {
        1 => {}
        2 if is_rev(path[1]) => {
            attrs.insert("rev".into(), Attr::Str(path[1].to_ascii_lowercase()));
        }
        2 if is_ref(path[1]) => {
            attrs.insert("ref".into(), s(path[1]));
        }
        2 => {
            return Err(bad(format!(
                "in flake URL '{original}', '{}' is not a commit hash or branch/tag name",
                path[1]
            )))
        }
        3 => {
            if !is_ref(path[1]) {
                return Err(bad(format!(
                    "in flake URL '{original}', '{}' is not a branch/tag name",
                    path[1]
                )));
            }
            if !is_rev(path[2]) {
                return Err(bad(format!(
                    "in flake URL '{original}', '{}' is not a commit hash",
                    path[2]
                )));
            }
            attrs.insert("ref".into(), s(path[1]));
            attrs.insert("rev".into(), Attr::Str(path[2].to_ascii_lowercase()));
        }
        _ => return Err(bad(format!("flake URL '{original}' is invalid"))),
    }
    let id = path.first().copied().unwrap_or("");
    if !is_flake_id(id) {
        return Err(bad(format!("'{id}' is not a valid flake ID")));
    }
    attrs.insert("type".into(), s("indirect"));
    attrs.insert("id".into(), s(id));
    Ok(attrs)
}

/// `path:/abs/path(?rev=…&narHash=…&revCount=…&lastModified=…)`.
fn path_from_url(url: &Url, original: &str) -> Result<FlakeAttrs, ErrorKind> {
    if url.authority.as_deref().is_some_and(|a| !a.is_empty()) {
        return Err(bad(format!(
            "path URL '{original}' should not have an authority ('{}')",
            url.authority.as_deref().unwrap_or("")
        )));
    }
    let mut attrs = FlakeAttrs::new();
    attrs.insert("type".into(), s("path"));
    attrs.insert("path".into(), s(&url.path));
    for (name, value) in &url.query {
        match name.as_str() {
            "rev" | "narHash" => {
                attrs.insert(name.clone(), s(value));
            }
            "revCount" | "lastModified" => {
                let n = value.parse::<u64>().map_err(|_| {
                    bad(format!(
                        "path URL '{original}' has invalid parameter '{name}'"
                    ))
                })?;
                attrs.insert(name.clone(), Attr::Int(n));
            }
            _ => {
                return Err(bad(format!(
                    "path URL '{original}' has unsupported parameter '{name}'"
                )))
            }
        }
    }
    Ok(attrs)
}

/// `git+…` and `hg+…`: the repository URL and the fetch parameters.
fn vcs_from_url(url: &Url, kind: &str) -> FlakeAttrs {
    let mut attrs = FlakeAttrs::new();
    attrs.insert("type".into(), s(kind));
    let mut inner = Url {
        scheme: url
            .scheme
            .strip_prefix(&format!("{kind}+"))
            .unwrap_or(&url.scheme)
            .to_owned(),
        authority: url.authority.clone(),
        path: url.path.clone(),
        query: BTreeMap::new(),
    };
    for (name, value) in &url.query {
        match name.as_str() {
            "rev" | "ref" => {
                attrs.insert(name.clone(), s(value));
            }
            "shallow" | "submodules" | "allRefs" | "lfs" | "exportIgnore" | "verifyCommit"
                if kind == "git" =>
            {
                attrs.insert(name.clone(), Attr::Bool(value == "1"));
            }
            _ => {
                inner.query.insert(name.clone(), value.clone());
            }
        }
    }
    attrs.insert("url".into(), Attr::Str(inner.render()));
    attrs
}

const TARBALL_EXTENSIONS: [&str; 9] = [
    ".zip", ".tar", ".tgz", ".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst", ".tbz", ".txz",
];

/// `tarball+…`/`file+…`, or a plain `http(s)`/`file` URL (a tarball when
/// its name looks like one).
fn curl_from_url(url: &Url) -> Option<FlakeAttrs> {
    let (kind, scheme) = if let Some(rest) = url.scheme.strip_prefix("tarball+") {
        ("tarball", rest)
    } else if let Some(rest) = url.scheme.strip_prefix("file+") {
        ("file", rest)
    } else if matches!(url.scheme.as_str(), "http" | "https" | "file") {
        let tarball = TARBALL_EXTENSIONS.iter().any(|e| url.path.ends_with(e));
        (
            if tarball { "tarball" } else { "file" },
            url.scheme.as_str(),
        )
    } else {
        return None;
    };
    if !matches!(scheme, "http" | "https" | "file") {
        return None;
    }
    let mut attrs = FlakeAttrs::new();
    attrs.insert("type".into(), s(kind));
    let mut inner = Url {
        scheme: scheme.to_owned(),
        authority: url.authority.clone(),
        path: url.path.clone(),
        query: url.query.clone(),
    };
    if let Some(h) = inner.query.remove("narHash") {
        attrs.insert("narHash".into(), Attr::Str(h));
    }
    attrs.insert("url".into(), Attr::Str(inner.render()));
    Some(attrs)
}

/// A flake reference string as attributes (with `dir` for a subdirectory).
pub(super) fn parse_ref(text: &str) -> Result<FlakeAttrs, ErrorKind> {
    let main = text.split(['?', '#']).next().unwrap_or("");
    let first = main.split('/').next().unwrap_or("");
    let url_text = if !main.contains(':') && is_flake_id(first) {
        // A bare flake id: `nixpkgs`, `nixpkgs/ref`, `nixpkgs/ref/rev`.
        format!("flake:{text}")
    } else if !main.contains(':') {
        return Err(ErrorKind::NotYetSupported(format!(
            "the path flake reference '{text}' (it needs the file system)"
        )));
    } else {
        text.to_owned()
    };
    let mut url = Url::parse(&url_text)?;
    let dir = url.query.remove("dir");
    let mut attrs = match url.scheme.as_str() {
        "github" | "gitlab" | "sourcehut" => git_archive_from_url(&url, text)?,
        "flake" => indirect_from_url(&url, text)?,
        "path" => path_from_url(&url, text)?,
        sch if sch.starts_with("git+") => vcs_from_url(&url, "git"),
        sch if sch.starts_with("hg+") => vcs_from_url(&url, "hg"),
        _ => curl_from_url(&url).ok_or_else(|| bad(format!("input '{text}' is unsupported")))?,
    };
    if let Some(d) = dir.filter(|d| !d.is_empty()) {
        attrs.insert("dir".into(), Attr::Str(d));
    }
    Ok(attrs)
}

fn str_attr<'a>(attrs: &'a FlakeAttrs, name: &str) -> Result<&'a str, ErrorKind> {
    match attrs.get(name) {
        Some(Attr::Str(v)) => Ok(v),
        Some(_) => Err(bad(format!("input attribute '{name}' is not a string"))),
        None => Err(bad(format!("input attribute '{name}' is missing"))),
    }
}

fn opt_str<'a>(attrs: &'a FlakeAttrs, name: &str) -> Result<Option<&'a str>, ErrorKind> {
    match attrs.get(name) {
        None => Ok(None),
        Some(_) => str_attr(attrs, name).map(Some),
    }
}

fn check_known(attrs: &FlakeAttrs, known: &[&str]) -> Result<(), ErrorKind> {
    match attrs.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(bad(format!("unsupported input attribute '{k}'"))),
        None => Ok(()),
    }
}

fn attr_text(a: &Attr) -> String {
    match a {
        Attr::Str(s) => s.clone(),
        Attr::Int(i) => i.to_string(),
        Attr::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
    }
}

/// The URL of a flake reference given as attributes.
pub(super) fn ref_to_string(mut attrs: FlakeAttrs) -> Result<String, ErrorKind> {
    let dir = match attrs.remove("dir") {
        Some(Attr::Str(d)) => Some(d),
        Some(_) => return Err(bad("input attribute 'dir' is not a string".into())),
        None => None,
    };
    let kind = str_attr(&attrs, "type")?.to_owned();
    let mut url = match kind.as_str() {
        "github" | "gitlab" | "sourcehut" => {
            check_known(
                &attrs,
                &[
                    "type",
                    "owner",
                    "repo",
                    "ref",
                    "rev",
                    "narHash",
                    "lastModified",
                    "host",
                ],
            )?;
            let mut path = format!(
                "{}/{}",
                str_attr(&attrs, "owner")?,
                str_attr(&attrs, "repo")?
            );
            let r#ref = opt_str(&attrs, "ref")?;
            let rev = opt_str(&attrs, "rev")?;
            if r#ref.is_some() && rev.is_some() {
                return Err(bad(
                    "a flake reference cannot have both a commit hash and a branch/tag name".into(),
                ));
            }
            if let Some(r) = r#ref.or(rev) {
                path.push('/');
                path.push_str(r);
            }
            let mut query = BTreeMap::new();
            for key in ["narHash", "host"] {
                if let Some(v) = opt_str(&attrs, key)? {
                    query.insert(key.to_owned(), v.to_owned());
                }
            }
            Url {
                scheme: kind.clone(),
                authority: None,
                path,
                query,
            }
        }
        "indirect" => {
            check_known(&attrs, &["type", "id", "ref", "rev", "narHash"])?;
            let mut path = str_attr(&attrs, "id")?.to_owned();
            for key in ["ref", "rev"] {
                if let Some(v) = opt_str(&attrs, key)? {
                    path.push('/');
                    path.push_str(v);
                }
            }
            Url {
                scheme: "flake".into(),
                authority: None,
                path,
                query: BTreeMap::new(),
            }
        }
        "path" => {
            let path = str_attr(&attrs, "path")?.to_owned();
            let query = attrs
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "type" | "path" | "__final"))
                .map(|(k, v)| (k.clone(), attr_text(v)))
                .collect();
            Url {
                scheme: "path".into(),
                authority: None,
                path,
                query,
            }
        }
        "git" | "hg" => {
            let mut url = Url::parse(str_attr(&attrs, "url")?)?;
            if !(kind == "git" && url.scheme == "git") {
                url.scheme = format!("{kind}+{}", url.scheme);
            }
            for key in ["rev", "ref"] {
                if let Some(v) = opt_str(&attrs, key)? {
                    url.query.insert(key.to_owned(), v.to_owned());
                }
            }
            for key in [
                "shallow",
                "lfs",
                "submodules",
                "exportIgnore",
                "verifyCommit",
            ] {
                if attrs.get(key) == Some(&Attr::Bool(true)) {
                    url.query.insert(key.to_owned(), "1".into());
                }
            }
            url
        }
        "tarball" | "file" => {
            let mut url = Url::parse(str_attr(&attrs, "url")?)?;
            if let Some(h) = opt_str(&attrs, "narHash")? {
                url.query.insert("narHash".into(), h.to_owned());
            }
            url
        }
        other => {
            return Err(ErrorKind::NotYetSupported(format!(
                "flake references of type '{other}'"
            )))
        }
    };
    if let Some(d) = dir.filter(|d| !d.is_empty()) {
        url.query.insert("dir".into(), d);
    }
    Ok(url.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(text: &str) -> String {
        ref_to_string(parse_ref(text).expect("parses")).expect("prints")
    }

    #[test]
    fn round_trips() {
        for r in [
            "github:NixOS/nixpkgs/23.05?dir=lib",
            "github:NixOS/nixpkgs",
            "gitlab:a/b/feature/x",
            "flake:nixpkgs/nixos-23.05",
            "path:/some/where?lastModified=5",
            "git+https://example.org/repo.git?ref=main&shallow=1",
            "https://example.org/x.tar.gz",
        ] {
            assert_eq!(round(r), r);
        }
        assert_eq!(round("nixpkgs"), "flake:nixpkgs");
        assert_eq!(round("github:a/b?ref=dev"), "github:a/b/dev");
    }
}
