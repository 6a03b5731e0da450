//! C++ Nix's configuration settings as the legacy commands see them: the
//! known names and their kinds, values read from `nix.conf` files and
//! `NIX_CONFIG`, then overridden on the command line (`--option NAME VALUE`,
//! `--NAME VALUE`, `--no-NAME`, `--extra-NAME`). Most settings are about
//! building and are accepted and ignored; the evaluator's (`system`,
//! `nix-path`, `restrict-eval`, `pure-eval`, `allowed-uris`, `show-trace`,
//! `experimental-features`, `trace-function-calls`) take effect.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a setting's value is written and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `true` or `false`; on the command line `--NAME` and `--no-NAME`.
    Bool,
    /// A non-negative integer.
    Int,
    /// Any string.
    Str,
    /// A space-separated list; `extra-NAME` appends.
    List,
    /// `max-jobs`: `auto` or an integer.
    MaxJobs,
    /// `sandbox`: `true`, `false` or `relaxed`.
    Sandbox,
}

/// The settings C++ Nix 2.8 knows (`nix show-config`), with their kinds.
pub const KNOWN: &[(&str, Kind)] = &[
    ("accept-flake-config", Kind::Bool),
    ("access-tokens", Kind::List),
    ("allow-dirty", Kind::Bool),
    ("allow-import-from-derivation", Kind::Bool),
    ("allow-new-privileges", Kind::Bool),
    ("allow-symlinked-store", Kind::Bool),
    ("allow-unsafe-native-code-during-evaluation", Kind::Bool),
    ("allowed-impure-host-deps", Kind::List),
    ("allowed-uris", Kind::List),
    ("allowed-users", Kind::List),
    ("auto-optimise-store", Kind::Bool),
    ("bash-prompt", Kind::Str),
    ("bash-prompt-suffix", Kind::Str),
    ("build-hook", Kind::Str),
    ("build-poll-interval", Kind::Int),
    ("build-users-group", Kind::Str),
    ("builders", Kind::Str),
    ("builders-use-substitutes", Kind::Bool),
    ("commit-lockfile-summary", Kind::Str),
    ("compress-build-log", Kind::Bool),
    ("connect-timeout", Kind::Int),
    ("cores", Kind::Int),
    ("diff-hook", Kind::Str),
    ("download-attempts", Kind::Int),
    ("enforce-determinism", Kind::Bool),
    ("eval-cache", Kind::Bool),
    ("experimental-features", Kind::List),
    ("extra-platforms", Kind::List),
    ("fallback", Kind::Bool),
    ("filter-syscalls", Kind::Bool),
    ("flake-registry", Kind::Str),
    ("fsync-metadata", Kind::Bool),
    ("gc-reserved-space", Kind::Int),
    ("hashed-mirrors", Kind::List),
    ("http-connections", Kind::Int),
    ("http2", Kind::Bool),
    ("ignored-acls", Kind::List),
    ("impersonate-linux-26", Kind::Bool),
    ("keep-build-log", Kind::Bool),
    ("keep-derivations", Kind::Bool),
    ("keep-env-derivations", Kind::Bool),
    ("keep-failed", Kind::Bool),
    ("keep-going", Kind::Bool),
    ("keep-outputs", Kind::Bool),
    ("log-lines", Kind::Int),
    ("max-build-log-size", Kind::Int),
    ("max-free", Kind::Int),
    ("max-jobs", Kind::MaxJobs),
    ("max-silent-time", Kind::Int),
    ("min-free", Kind::Int),
    ("min-free-check-interval", Kind::Int),
    ("nar-buffer-size", Kind::Int),
    ("narinfo-cache-negative-ttl", Kind::Int),
    ("narinfo-cache-positive-ttl", Kind::Int),
    ("netrc-file", Kind::Str),
    ("nix-path", Kind::List),
    ("plugin-files", Kind::List),
    ("post-build-hook", Kind::Str),
    ("pre-build-hook", Kind::Str),
    ("preallocate-contents", Kind::Bool),
    ("print-missing", Kind::Bool),
    ("pure-eval", Kind::Bool),
    ("repeat", Kind::Int),
    ("require-sigs", Kind::Bool),
    ("restrict-eval", Kind::Bool),
    ("run-diff-hook", Kind::Bool),
    ("sandbox", Kind::Sandbox),
    ("sandbox-build-dir", Kind::Str),
    ("sandbox-dev-shm-size", Kind::Str),
    ("sandbox-fallback", Kind::Bool),
    ("sandbox-paths", Kind::List),
    ("secret-key-files", Kind::List),
    ("show-trace", Kind::Bool),
    ("stalled-download-timeout", Kind::Int),
    ("store", Kind::Str),
    ("substitute", Kind::Bool),
    ("substituters", Kind::List),
    ("sync-before-registering", Kind::Bool),
    ("system", Kind::Str),
    ("system-features", Kind::List),
    ("tarball-ttl", Kind::Int),
    ("timeout", Kind::Int),
    ("trace-function-calls", Kind::Bool),
    ("trusted-public-keys", Kind::List),
    ("trusted-substituters", Kind::List),
    ("trusted-users", Kind::List),
    ("use-case-hack", Kind::Bool),
    ("use-registries", Kind::Bool),
    ("use-sqlite-wal", Kind::Bool),
    ("user-agent-suffix", Kind::Str),
    ("warn-dirty", Kind::Bool),
];

/// Old names C++ Nix still accepts in `nix.conf` and `--option` (not as
/// `--NAME` flags).
const ALIASES: &[(&str, &str)] = &[
    ("binary-cache-public-keys", "trusted-public-keys"),
    ("binary-caches", "substituters"),
    ("build-compress-log", "compress-build-log"),
    ("build-cores", "cores"),
    ("build-extra-chroot-dirs", "sandbox-paths"),
    ("build-extra-platforms", "extra-platforms"),
    ("build-extra-sandbox-paths", "sandbox-paths"),
    ("build-fallback", "fallback"),
    ("build-keep-log", "keep-build-log"),
    ("build-max-jobs", "max-jobs"),
    ("build-max-log-size", "max-build-log-size"),
    ("build-max-silent-time", "max-silent-time"),
    ("build-repeat", "repeat"),
    ("build-timeout", "timeout"),
    ("build-use-chroot", "sandbox"),
    ("build-use-sandbox", "sandbox"),
    ("build-use-substitutes", "substitute"),
    ("env-keep-derivations", "keep-env-derivations"),
    ("gc-check-reachability", "gc-check-reachability"),
    ("gc-keep-derivations", "keep-derivations"),
    ("gc-keep-outputs", "keep-outputs"),
    ("trusted-binary-caches", "trusted-substituters"),
    ("use-substitutes", "substitute"),
];

/// Experimental features C++ Nix 2.8 knows; others are warned about.
const FEATURES_2_8: &[&str] = &[
    "ca-derivations",
    "impure-derivations",
    "flakes",
    "nix-command",
    "recursive-nix",
    "no-url-literals",
    "fetch-closure",
];

/// Looks up a setting by its name (not an alias).
pub fn kind_of(name: &str) -> Option<Kind> {
    KNOWN.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

fn canonical(name: &str) -> Option<(&'static str, Kind)> {
    if let Some((n, k)) = KNOWN.iter().find(|(n, _)| *n == name) {
        return Some((n, *k));
    }
    let (_, target) = ALIASES.iter().find(|(a, _)| *a == name)?;
    KNOWN
        .iter()
        .find(|(n, _)| n == target)
        .map(|(n, k)| (*n, *k))
}

/// The settings in force: defaults, then configuration files, then the
/// command line.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    values: BTreeMap<&'static str, String>,
    /// Unknown names set so far, warned about once (C++ Nix warns when
    /// the command line's first argument is reached).
    unknown: BTreeMap<String, ()>,
    /// Warnings to print at that point.
    pending: Vec<String>,
}

impl Settings {
    /// Sets `name` (or appends with `append`) to `value`, checked for its
    /// kind. `Ok(false)`: not a known setting (recorded for a warning).
    /// `Err`: the value is invalid (C++ Nix's message, without `error:`).
    pub fn set(&mut self, name: &str, value: &str, append: bool) -> Result<bool, String> {
        // `extra-NAME` appends to NAME.
        if canonical(name).is_none() {
            if let Some(base) = name.strip_prefix("extra-") {
                if canonical(base).is_some() {
                    return self.set(base, value, true);
                }
            }
        }
        let Some((name, kind)) = canonical(name) else {
            self.unknown.insert(name.to_owned(), ());
            return Ok(false);
        };
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        match kind {
            Kind::Bool => {
                if value != "true" && value != "false" {
                    return Err(format!(
                        "Boolean setting '{name}' has invalid value '{value}'"
                    ));
                }
            }
            Kind::Int => {
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("setting '{name}' has invalid value '{value}'"));
                }
            }
            Kind::MaxJobs => {
                if value != "auto" && value.parse::<u32>().is_err() {
                    return Err(format!(
                        "configuration setting '{name}' should be 'auto' or an integer"
                    ));
                }
            }
            Kind::Sandbox => {
                if !matches!(value, "true" | "false" | "relaxed") {
                    return Err(format!(
                        "Boolean setting '{name}' has invalid value '{value}'"
                    ));
                }
            }
            Kind::Str | Kind::List => {}
        }
        if name == "experimental-features" {
            for f in value.split_whitespace() {
                if !FEATURES_2_8.contains(&f) {
                    self.pending
                        .push(format!("unknown experimental feature '{f}'"));
                }
            }
        }
        let entry = self.values.entry(name).or_default();
        if append && kind == Kind::List && !entry.is_empty() {
            if !value.is_empty() {
                entry.push(' ');
                entry.push_str(value);
            }
        } else {
            *entry = value.to_owned();
        }
        Ok(true)
    }

    /// Whether `name` was given a value (anywhere).
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A string setting's value, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A Boolean setting's value (`false` when unset).
    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }

    /// A list setting's elements.
    pub fn get_list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// The warnings due now: unknown settings (sorted, once each) and
    /// unknown experimental features.
    pub fn take_warnings(&mut self) -> Vec<String> {
        let mut out = std::mem::take(&mut self.pending);
        for name in std::mem::take(&mut self.unknown).into_keys() {
            out.push(format!("unknown setting '{name}'"));
        }
        out
    }

    /// Discards unknown names recorded from now on (C++ Nix never warns
    /// about those set after the first argument).
    pub fn forget_unknown(&mut self) {
        self.unknown.clear();
    }

    /// Reads `nix.conf` files and `NIX_CONFIG` as C++ Nix does at start:
    /// `$NIX_CONF_DIR/nix.conf` (default `/etc/nix`), then the user's files
    /// (`$NIX_USER_CONF_FILES`, else `nix/nix.conf` in `$XDG_CONFIG_HOME`
    /// (default `~/.config`) and `$XDG_CONFIG_DIRS` (default `/etc/xdg`),
    /// the most important last), then `$NIX_CONFIG`.
    pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfError> {
        let mut s = Settings::default();
        // `nix-path` defaults to `$NIX_PATH`.
        if let Some(np) = env("NIX_PATH") {
            let _ = s.set("nix-path", &parse_nix_path(&np).join(" "), false);
        }
        let conf_dir = env("NIX_CONF_DIR").unwrap_or_else(|| "/etc/nix".into());
        s.apply_file(&Path::new(&conf_dir).join("nix.conf"))?;
        let user_files: Vec<PathBuf> = match env("NIX_USER_CONF_FILES") {
            Some(list) => list
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect(),
            None => {
                let mut dirs = Vec::new();
                match env("XDG_CONFIG_HOME") {
                    Some(d) => dirs.push(PathBuf::from(d)),
                    None => {
                        if let Some(h) = env("HOME") {
                            dirs.push(Path::new(&h).join(".config"));
                        }
                    }
                }
                let xdg_dirs = env("XDG_CONFIG_DIRS").unwrap_or_else(|| "/etc/xdg".into());
                dirs.extend(
                    xdg_dirs
                        .split(':')
                        .filter(|d| !d.is_empty())
                        .map(PathBuf::from),
                );
                dirs.into_iter().map(|d| d.join("nix/nix.conf")).collect()
            }
        };
        for f in user_files.iter().rev() {
            s.apply_file(f)?;
        }
        if let Some(text) = env("NIX_CONFIG") {
            s.apply_text(&text, "NIX_CONFIG", None)?;
        }
        Ok(s)
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfError> {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(());
        };
        let shown = path.display().to_string();
        self.apply_text(&text, &shown, path.parent())
    }

    /// Applies the lines of a configuration text: `NAME = VALUE`,
    /// `include PATH`, `!include PATH` (missing file ignored), `#` comments.
    fn apply_text(
        &mut self,
        text: &str,
        origin: &str,
        dir: Option<&Path>,
    ) -> Result<(), ConfError> {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let tokens: Vec<&str> = line.split_whitespace().collect();
            if tokens.is_empty() {
                continue;
            }
            if tokens[0] == "include" || tokens[0] == "!include" {
                if tokens.len() != 2 {
                    return Err(ConfError::Usage(format!(
                        "illegal configuration line '{line}' in '{origin}'"
                    )));
                }
                let p = Path::new(tokens[1]);
                let p = match dir {
                    Some(d) if p.is_relative() => d.join(p),
                    _ => p.to_path_buf(),
                };
                if p.exists() {
                    self.apply_file(&p)?;
                } else if tokens[0] == "include" {
                    return Err(ConfError::Failed(format!(
                        "file '{}' included from '{origin}' not found",
                        p.display()
                    )));
                }
                continue;
            }
            if tokens.len() < 2 || tokens[1] != "=" {
                return Err(ConfError::Usage(format!(
                    "illegal configuration line '{line}' in '{origin}'"
                )));
            }
            let value = tokens[2..].join(" ");
            self.set(tokens[0], &value, false)
                .map_err(ConfError::Usage)?;
        }
        Ok(())
    }
}

/// A configuration file or `NIX_CONFIG` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// Reported with the `--help` hint, as C++ Nix does.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

/// Splits a `NIX_PATH`-style value on `:`, keeping URLs (`https://…`,
/// `channel:…`) whole, as C++ Nix does.
pub fn parse_nix_path(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut p = 0;
    while p < bytes.len() {
        let start = p;
        let mut value_start = p;
        while p < bytes.len() && bytes[p] != b':' {
            if bytes[p] == b'=' {
                value_start = p + 1;
            }
            p += 1;
        }
        if p == bytes.len() {
            if p != start {
                out.push(s[start..p].to_owned());
            }
            break;
        }
        // At a ':'. A pseudo-URL's scheme separator does not end the entry.
        let rest = &s[value_start..];
        if crate::eval::eval_io::is_uri(rest) || rest.starts_with("flake:") {
            p += 1;
            while p < bytes.len() && bytes[p] != b':' {
                p += 1;
            }
        }
        out.push(s[start..p].to_owned());
        if p == bytes.len() {
            break;
        }
        p += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nix_path_keeps_urls_whole() {
        assert_eq!(
            parse_nix_path("a=/x:nixpkgs=https://h/a.tar.gz:/y::"),
            vec!["a=/x", "nixpkgs=https://h/a.tar.gz", "/y", ""]
        );
        assert_eq!(parse_nix_path(""), Vec::<String>::new());
    }

    #[test]
    fn values_are_checked_by_kind() {
        let mut s = Settings::default();
        assert_eq!(s.set("show-trace", "true", false), Ok(true));
        assert!(s.get_bool("show-trace"));
        assert!(s.set("show-trace", "maybe", false).is_err());
        assert!(s.set("cores", "x", false).is_err());
        assert_eq!(s.set("build-max-jobs", "auto", false), Ok(true));
        assert_eq!(s.set("frobnicate", "1", false), Ok(false));
        assert_eq!(s.take_warnings(), vec!["unknown setting 'frobnicate'"]);
        s.set("nix-path", "a=/b", false).unwrap();
        s.set("nix-path", "c=/d", true).unwrap();
        assert_eq!(s.get_list("nix-path"), vec!["a=/b", "c=/d"]);
    }

    #[test]
    fn config_text_lines() {
        let mut s = Settings::default();
        s.apply_text("# c\nsystem = foo # x\nextra-nix-path = a=/b\n", "T", None)
            .unwrap();
        assert_eq!(s.get("system"), Some("foo"));
        assert_eq!(s.get_list("nix-path"), vec!["a=/b"]);
        assert!(matches!(
            s.apply_text("foo", "NIX_CONFIG", None),
            Err(ConfError::Usage(m)) if m == "illegal configuration line 'foo' in 'NIX_CONFIG'"
        ));
    }
}
