//! Where the commands find their store: the store directory paths are
//! printed in (`NIX_STORE_DIR`, `NIX_STORE`), the address of oxnix's own
//! store (`--store`, `OXNIX_STORE`, …), and the help texts that describe
//! both, written once for every command, man page and completion.

use std::ffi::OsString;
use std::path::Path;

use super::CliError;
use crate::store::any::{AnyAddress, NixPaths};
use crate::store::{Store, StoreAddress};
use crate::store_path::StoreDir;

/// Help of `--store` (every command that opens the store).
pub const STORE_HELP: &str = "The store: memory://, sled:///ABSOLUTE/PATH, grpc+http://HOST:PORT or grpc+unix:///PATH (default: $OXNIX_STORE, else a sled store in $OXNIX_STORE_DIR, $XDG_DATA_HOME/oxnix or ~/.local/share/oxnix)";

/// Help of `--store` of the commands of C++ Nix's (`nix-store`,
/// `nix-instantiate`), which work on C++ Nix's stores too.
pub const NIX_STORE_HELP: &str = "The store: C++ Nix's auto, local, local?root=DIR (or a plain DIR), daemon or unix:///SOCKET; or oxnix's own memory://, sled:///PATH, grpc+http://HOST:PORT, grpc+unix:///PATH. Default: oxnix's store when $OXNIX_STORE or $OXNIX_STORE_DIR is set, else $NIX_REMOTE, else auto where Nix is installed (its state directory or daemon socket exists), else oxnix's sled store";

/// The environment variables choosing C++ Nix's store, and what they do.
pub const NIX_STORE_ENV_HELP: (&str, &str) = (
    "NIX_REMOTE, NIX_STATE_DIR, NIX_DAEMON_SOCKET_PATH",
    "C++ Nix's store, used where Nix is installed unless OXNIX_STORE or OXNIX_STORE_DIR choose oxnix's: $NIX_REMOTE as --store (auto, local, daemon, unix:///SOCKET, local?root=DIR); auto means the local store (files under the store directory, the SQLite database in $NIX_STATE_DIR, default /nix/var/nix) when the state directory is writable, else the daemon at $NIX_DAEMON_SOCKET_PATH (default /nix/var/nix/daemon-socket/socket). On the local store --gc, --delete, --verify, --optimise, --dump-db, --load-db, --register-validity and --repair-path work as Nix 2.8's (its collector's locks, GC socket, runtime and temporary roots); through the daemon, as with Nix 2.8's client, --gc, --delete and -q --roots are the daemon collector's, --verify and --optimise the daemon's, --dump-db reads from it, and --load-db, --register-validity and --repair-path fail with 2.8's errors for a store that is not local.",
);

/// The environment variables choosing oxnix's store, and what they do
/// (for the man pages' ENVIRONMENT sections).
pub const STORE_ENV_HELP: (&str, &str) = (
    "OXNIX_STORE, OXNIX_STORE_DIR, XDG_DATA_HOME, HOME",
    "oxnix's own store: $OXNIX_STORE (an address such as sled:///var/lib/oxnix or grpc+unix:///run/oxnix.sock), else a sled store in $OXNIX_STORE_DIR, $XDG_DATA_HOME/oxnix or ~/.local/share/oxnix. --store overrides it.",
);

/// The environment variables naming the store directory, and what they do.
pub const STORE_DIR_ENV_HELP: (&str, &str) = (
    "NIX_STORE_DIR, NIX_STORE",
    "The store directory paths are in (default /nix/store): $NIX_STORE_DIR, else $NIX_STORE (its old name). It must be an absolute path; it is normalised ('.', '..' and repeated or trailing slashes removed).",
);

/// The store directory, as C++ Nix 2.8 takes it from the environment
/// (`Settings::nixStore`): `$NIX_STORE_DIR` if set, else `$NIX_STORE`,
/// else `/nix/store`; lexically normalised, and an error unless absolute
/// (C++ Nix aborts on an empty value; that is an error here too).
pub fn store_dir() -> Result<StoreDir, CliError> {
    store_dir_from(&|k| std::env::var_os(k))
}

/// [`store_dir`] with the environment looked up through `env`.
fn store_dir_from(env: &dyn Fn(&str) -> Option<OsString>) -> Result<StoreDir, CliError> {
    let Some(dir) = env("NIX_STORE_DIR").or_else(|| env("NIX_STORE")) else {
        return Ok(StoreDir::default());
    };
    let dir = Path::new(&dir);
    if !dir.is_absolute() {
        return Err(CliError::Failed(format!(
            "not an absolute path: '{}'",
            dir.display()
        )));
    }
    let canon = crate::eval::paths::canonicalise(dir);
    StoreDir::new(&canon.to_string_lossy()).map_err(CliError::failed)
}

/// The address of oxnix's store: `given` (`--store`), else the default
/// from the environment (see [`StoreAddress::from_env`]).
pub fn store_address(given: Option<&str>) -> Result<StoreAddress, CliError> {
    match given {
        Some(a) => StoreAddress::parse(a),
        None => StoreAddress::from_env(&|k| std::env::var_os(k)),
    }
    .map_err(CliError::failed)
}

/// C++ Nix's directories as the environment sets them.
pub fn nix_paths() -> Result<NixPaths, CliError> {
    Ok(NixPaths::from_env(store_dir()?, &|k| std::env::var_os(k)))
}

/// The store a command of C++ Nix's works on: `--store` (C++ Nix's
/// addresses or oxnix's), else as [`AnyAddress::from_env`] chooses.
pub fn any_address(given: Option<&str>) -> Result<AnyAddress, CliError> {
    let nix = nix_paths()?;
    let env = |k: &str| std::env::var_os(k);
    match given {
        Some(a) => AnyAddress::parse(a, &nix),
        None => AnyAddress::from_env(&nix, &env),
    }
    .map_err(CliError::failed)
}

/// Opens oxnix's store at `given` (or the default address) with paths in
/// `store_dir`.
pub fn open_store(given: Option<&str>, store_dir: StoreDir) -> Result<Store, CliError> {
    Store::open(&store_address(given)?, store_dir).map_err(CliError::failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(vars: &[(&str, &str)]) -> Result<String, String> {
        let env = |k: &str| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| OsString::from(v))
        };
        match store_dir_from(&env) {
            Ok(d) => Ok(d.as_str().to_owned()),
            Err(CliError::Failed(m)) => Err(m),
            Err(e) => Err(format!("{e:?}")),
        }
    }

    #[test]
    fn precedence_as_cpp_nix() {
        assert_eq!(resolve(&[]), Ok("/nix/store".into()));
        assert_eq!(resolve(&[("NIX_STORE", "/b")]), Ok("/b".into()));
        assert_eq!(resolve(&[("NIX_STORE_DIR", "/a")]), Ok("/a".into()));
        assert_eq!(
            resolve(&[("NIX_STORE_DIR", "/a"), ("NIX_STORE", "/b")]),
            Ok("/a".into())
        );
    }

    #[test]
    fn normalised_and_absolute() {
        assert_eq!(
            resolve(&[("NIX_STORE_DIR", "/x//y/../store/")]),
            Ok("/x/store".into())
        );
        assert_eq!(
            resolve(&[("NIX_STORE", "rel")]),
            Err("not an absolute path: 'rel'".into())
        );
        // Set but empty is not a fallback to $NIX_STORE.
        assert_eq!(
            resolve(&[("NIX_STORE_DIR", ""), ("NIX_STORE", "/b")]),
            Err("not an absolute path: ''".into())
        );
    }
}
