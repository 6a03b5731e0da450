//! Who may use a store daemon, and who is trusted, with C++ Nix's
//! meaning of `trusted-users` and `allowed-users` ([`UserList`],
//! [`TrustConfig::decide`]): a client's user is known from the kernel
//! (`SO_PEERCRED` on the unix socket; on a loopback TCP connection, the
//! owner of the client's socket in `/proc/net/tcp`, as identd finds it:
//! [`loopback_peer_uid`]), or a TCP client presents the daemon's bearer
//! token ([`Token`]).

use std::ffi::{CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::castore::access::Client;

/// Why the trust settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("reading the token file '{path}': {source}")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the token file '{0}' is empty")]
    EmptyToken(PathBuf),
    #[error("the token in '{0}' is not printable ASCII")]
    BadToken(PathBuf),
    #[error("the token file '{0}' is readable by every user; make it readable only by those who may use the daemon (chmod o-r)")]
    WorldReadableToken(PathBuf),
}

/// A list of users as `trusted-users`/`allowed-users` give it: user
/// names, `@group` (members of the group, or users whose primary group it
/// is), and `*` (everyone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserList(Vec<String>);

impl UserList {
    pub fn new<S: AsRef<str>>(entries: impl IntoIterator<Item = S>) -> UserList {
        UserList(
            entries
                .into_iter()
                .map(|e| e.as_ref().to_owned())
                .filter(|e| !e.is_empty())
                .collect(),
        )
    }

    /// A whitespace-separated list, as in `nix.conf`.
    pub fn parse(s: &str) -> UserList {
        UserList::new(s.split_whitespace())
    }

    pub fn entries(&self) -> &[String] {
        &self.0
    }

    /// C++ Nix's `matchUser`.
    pub fn matches(&self, user: &UserInfo) -> bool {
        self.0.iter().any(|e| match e.strip_prefix('@') {
            None => e == "*" || *e == user.name,
            Some(group) => {
                user.group.as_deref() == Some(group) || group_members(group).contains(&user.name)
            }
        })
    }
}

/// A user as the daemon sees it: uid, name (the uid in decimal when it
/// has none, as C++ Nix) and primary group's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub uid: u32,
    pub name: String,
    pub group: Option<String>,
}

impl UserInfo {
    /// Looks up the user `uid` whose primary group is `gid`.
    pub fn lookup(uid: u32, gid: u32) -> UserInfo {
        UserInfo {
            uid,
            name: user_name(uid).unwrap_or_else(|| uid.to_string()),
            group: group_name(gid),
        }
    }
}

/// A buffer size for the `getpw*_r`/`getgr*_r` calls.
fn buffer_size(which: libc::c_int) -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(which) };
    usize::try_from(n).unwrap_or(16384).max(1024)
}

fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; buffer_size(libc::_SC_GETPW_R_SIZE_MAX)];
    loop {
        // SAFETY: an all-zero passwd is a valid value to be filled in.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf` outlives it.
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pw.pw_name.is_null() {
            return None;
        }
        // SAFETY: getpwuid_r filled `pw` with strings inside `buf`.
        return Some(
            unsafe { CStr::from_ptr(pw.pw_name) }
                .to_string_lossy()
                .into_owned(),
        );
    }
}

/// The group `gid`'s name.
fn group_name(gid: u32) -> Option<String> {
    with_group(&mut |grp, buf, len, result| {
        // SAFETY: pointers valid for the call (see `with_group`).
        unsafe { libc::getgrgid_r(gid, grp, buf, len, result) }
    })
    .map(|(name, _)| name)
}

/// The members of the group `name` (its member list; users whose primary
/// group it is are matched by [`UserInfo::group`]).
fn group_members(name: &str) -> Vec<String> {
    let Ok(cname) = CString::new(name) else {
        return Vec::new();
    };
    with_group(&mut |grp, buf, len, result| {
        // SAFETY: pointers valid for the call (see `with_group`).
        unsafe { libc::getgrnam_r(cname.as_ptr(), grp, buf, len, result) }
    })
    .map(|(_, members)| members)
    .unwrap_or_default()
}

type GroupCall<'a> = dyn FnMut(*mut libc::group, *mut libc::c_char, usize, *mut *mut libc::group) -> libc::c_int
    + 'a;

/// Runs a `getgr*_r` call with a growing buffer; the group's name and
/// members.
fn with_group(call: &mut GroupCall<'_>) -> Option<(String, Vec<String>)> {
    let mut buf = vec![0 as libc::c_char; buffer_size(libc::_SC_GETGR_R_SIZE_MAX)];
    loop {
        // SAFETY: an all-zero group is a valid value to be filled in.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result = std::ptr::null_mut();
        let rc = call(&mut grp, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == libc::ERANGE && buf.len() < (1 << 22) {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() || grp.gr_name.is_null() {
            return None;
        }
        // SAFETY: the call filled `grp` with strings inside `buf`, and
        // `gr_mem` is a NULL-terminated array of such strings.
        let name = unsafe { CStr::from_ptr(grp.gr_name) }
            .to_string_lossy()
            .into_owned();
        let mut members = Vec::new();
        let mut p = grp.gr_mem;
        while !p.is_null() {
            // SAFETY: see above; `p` stays within the array until its NULL.
            let m = unsafe { *p };
            if m.is_null() {
                break;
            }
            // SAFETY: as above.
            members.push(unsafe { CStr::from_ptr(m) }.to_string_lossy().into_owned());
            // SAFETY: the array goes on up to its NULL.
            p = unsafe { p.add(1) };
        }
        return Some((name, members));
    }
}

/// The daemon's bearer token, which TCP clients present in an
/// `authorization: Bearer TOKEN` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// Reads a token file: its first line, surrounding white space
    /// removed. With `private`, a file every user may read is refused.
    pub fn read(path: &Path, private: bool) -> Result<Token, TrustError> {
        use std::os::unix::fs::PermissionsExt;
        let io = |source| TrustError::TokenFile {
            path: path.to_owned(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(io)?;
        if private {
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
            if mode & 0o004 != 0 {
                return Err(TrustError::WorldReadableToken(path.to_owned()));
            }
        }
        let token = text.lines().next().unwrap_or("").trim();
        if token.is_empty() {
            return Err(TrustError::EmptyToken(path.to_owned()));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TrustError::BadToken(path.to_owned()));
        }
        Ok(Token(token.to_owned()))
    }

    /// The token itself, as a client sends it.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// Whether an `authorization` header value carries this token
    /// (compared in time independent of where they differ).
    pub fn accepts(&self, header: &[u8]) -> bool {
        let Some(given) = header.strip_prefix(b"Bearer ") else {
            return false;
        };
        let want = self.0.as_bytes();
        let mut diff = given.len() ^ want.len();
        for (i, w) in want.iter().enumerate() {
            diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ w);
        }
        diff == 0
    }
}

/// Who may connect and who is trusted.
#[derive(Debug, Clone)]
pub struct TrustConfig {
    /// C++ Nix's `trusted-users` (default `root`). Root and the daemon's
    /// own user are trusted whatever it says: they can open the store
    /// without the daemon.
    pub trusted_users: UserList,
    /// C++ Nix's `allowed-users` (default `*`): who may connect at all.
    pub allowed_users: UserList,
    /// When set, every TCP call must carry it, and its bearer is trusted.
    pub token: Option<Token>,
}

impl Default for TrustConfig {
    fn default() -> Self {
        TrustConfig {
            trusted_users: UserList::new(["root"]),
            allowed_users: UserList::new(["*"]),
            token: None,
        }
    }
}

impl TrustConfig {
    /// The client a connection of user `uid` (primary group `gid`) is, or
    /// why it may not connect.
    pub fn decide(&self, uid: u32, gid: u32) -> Result<Client, String> {
        let user = UserInfo::lookup(uid, gid);
        // SAFETY: getuid has no preconditions.
        let me = unsafe { libc::getuid() };
        let who = format!("user {}", user.name);
        if uid == 0 || uid == me || self.trusted_users.matches(&user) {
            return Ok(Client { who, trusted: true });
        }
        if self.allowed_users.matches(&user) {
            return Ok(Client {
                who,
                trusted: false,
            });
        }
        Err(format!(
            "user '{}' is not allowed to connect to the store daemon (allowed-users)",
            user.name
        ))
    }
}

/// Whether `ip` is a loopback address (also as an IPv4-mapped IPv6 one).
pub fn is_loopback(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// The user owning the client's end of a loopback TCP connection: the
/// socket whose local address is `peer` and remote address `local` (ours)
/// in the kernel's tables (`/proc/net/tcp`, `/proc/net/tcp6`). `None`
/// when it is not found (the client has gone).
pub fn loopback_peer_uid(local: SocketAddr, peer: SocketAddr) -> io::Result<Option<u32>> {
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = match std::fs::read_to_string(table) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid ...
            let (Some(l), Some(r), Some(uid)) = (f.get(1), f.get(2), f.get(7)) else {
                continue;
            };
            if same_addr(parse_proc_addr(l), peer) && same_addr(parse_proc_addr(r), local) {
                return Ok(uid.parse().ok());
            }
        }
    }
    Ok(None)
}

/// Equal addresses, IPv4-mapped IPv6 ones equal to their IPv4 form.
fn same_addr(a: Option<SocketAddr>, b: SocketAddr) -> bool {
    let norm = |s: SocketAddr| match s.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), s.port()),
            None => s,
        },
        _ => s,
    };
    a.is_some_and(|a| norm(a) == norm(b))
}

/// An address as `/proc/net/tcp{,6}` prints it: the address's 32-bit
/// words in hexadecimal, each in host byte order, then `:PORT` in
/// hexadecimal.
fn parse_proc_addr(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_lists_match_as_cpp_nix() {
        let root = UserInfo::lookup(0, 0);
        assert_eq!(root.name, "root");
        assert!(UserList::parse("*").matches(&root));
        assert!(UserList::parse("alice root").matches(&root));
        assert!(UserList::parse("@root").matches(&root));
        assert!(!UserList::parse("alice @nogroup").matches(&root));
        assert!(!UserList::parse("").matches(&root));
        let ghost = UserInfo::lookup(4_000_000, 4_000_000);
        assert_eq!(ghost.name, "4000000");
        assert!(UserList::parse("4000000").matches(&ghost));
    }

    #[test]
    fn tokens_compare_whole() {
        let t = Token("s3cret".into());
        assert!(t.accepts(b"Bearer s3cret"));
        for bad in [
            &b"Bearer s3cre"[..],
            b"Bearer s3crett",
            b"s3cret",
            b"Bearer ",
            b"",
        ] {
            assert!(!t.accepts(bad), "{bad:?}");
        }
    }

    #[test]
    fn proc_addresses_parse() {
        let v4 = parse_proc_addr("0100007F:1F90").expect("v4");
        if cfg!(target_endian = "little") {
            assert_eq!(v4, "127.0.0.1:8080".parse().expect("addr"));
            let v6 = parse_proc_addr("00000000000000000000000001000000:0050").expect("v6");
            assert_eq!(v6, "[::1]:80".parse().expect("addr"));
        }
    }

    #[test]
    fn a_loopback_connection_is_owned_by_our_user() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (s, peer) = l.accept().expect("accept");
        let local = s.local_addr().expect("local");
        assert_eq!(peer, c.local_addr().expect("client addr"));
        // SAFETY: getuid has no preconditions.
        let me = unsafe { libc::getuid() };
        assert_eq!(loopback_peer_uid(local, peer).expect("lookup"), Some(me));
    }
}
