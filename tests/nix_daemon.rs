//! oxnix's client of C++ Nix's daemon (`store::nix_daemon`), against
//! C++ Nix 2.8's `nix-daemon` on a throwaway chroot store: over its
//! `--stdio` mode and over a unix socket in a temporary directory that the
//! test starts and stops. Queries agree with `nix-store`, texts and NARs we
//! add are valid to C++ Nix, a trivial derivation is built by the daemon.
//! Our `nix-store --read-log` against C++ Nix's on logs it wrote while
//! building, on its local store and through its daemon; keys from our
//! `--generate-binary-cache-key` used by its `nix store sign`/`verify`.
//! Skipped with a message without `nix-daemon`, failing instead under
//! `OXNIX_REQUIRE_SERVICES=1`.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use oxnix::hash::HashFormat;
use oxnix::store::nix_daemon::DaemonClient;
use oxnix::store_path::StoreDir;

fn cpp_bin(name: &str) -> Option<PathBuf> {
    let found = [format!("/usr/bin/{name}")]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        if std::env::var_os("OXNIX_REQUIRE_SERVICES").is_some() {
            panic!("C++ Nix's {name} is required (OXNIX_REQUIRE_SERVICES=1)");
        }
        eprintln!("skipped: C++ Nix's {name} is not installed");
    }
    found
}

/// A throwaway store of C++ Nix's: its own store and state directories
/// (not a chroot store: C++ Nix 2.8 cannot dump or build in those), and
/// settings that let root build without build users or a sandbox.
fn nix_env(c: &mut Command, root: &Path) {
    let conf = root.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    std::fs::write(
        conf.join("nix.conf"),
        "build-users-group =\nsandbox = false\nsubstituters =\n",
    )
    .expect("nix.conf");
    c.env("NIX_STORE_DIR", root.join("store"))
        .env("NIX_STATE_DIR", root.join("state"))
        .env("NIX_LOG_DIR", root.join("log"))
        .env("NIX_CONF_DIR", &conf)
        .env_remove("NIX_REMOTE");
}

fn store_dir(root: &Path) -> StoreDir {
    StoreDir::new(root.join("store").to_str().expect("utf-8")).expect("store dir")
}

fn cpp_store(root: &Path, args: &[&str]) -> String {
    let mut c = Command::new("nix-store");
    nix_env(&mut c, root);
    let out = c.args(args).output().expect("nix-store");
    assert!(
        out.status.success(),
        "nix-store {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stdio_client(daemon: &Path, root: &Path) -> DaemonClient {
    let mut c = Command::new(daemon);
    nix_env(&mut c, root);
    c.arg("--stdio").stderr(Stdio::inherit());
    DaemonClient::spawn(c, store_dir(root)).expect("handshake with nix-daemon --stdio")
}

#[test]
fn queries_and_additions_through_the_daemon() {
    let Some(daemon) = cpp_bin("nix-daemon") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("d")).expect("tree");
    std::fs::write(tree.join("d/f"), "contents\n").expect("f");
    let added = cpp_store(&root, &["--add", tree.to_str().expect("utf-8")]);
    let added = added.trim();

    let mut c = stdio_client(&daemon, &root);
    assert!(c
        .daemon_nix_version
        .as_deref()
        .unwrap_or("")
        .starts_with("2."));
    let dir = store_dir(&root);
    let p = dir.parse_path(added).expect("path");
    assert!(c.is_valid_path(&p).expect("valid"));
    let info = c.query_path_info(&p).expect("query").expect("valid");
    assert_eq!(
        info.nar_hash.to_string_with(HashFormat::Nix32),
        cpp_store(&root, &["-q", "--hash", added]).trim()
    );
    let missing = dir
        .parse_path(&format!(
            "{}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-missing",
            dir.as_str()
        ))
        .expect("path");
    assert!(!c.is_valid_path(&missing).expect("query"));
    assert!(c.query_path_info(&missing).expect("query").is_none());

    // A text with a reference, valid to C++ Nix with that reference.
    let refs: BTreeSet<_> = [p.clone()].into_iter().collect();
    let t = c
        .add_text("note", format!("see {added}").as_bytes(), &refs)
        .expect("add text");
    let expected = dir
        .text_path("note", format!("see {added}").as_bytes(), &refs)
        .expect("text path");
    assert_eq!(t, expected);
    assert_eq!(
        cpp_store(&root, &["-q", "--references", &dir.print(&t)]).trim(),
        added
    );
    assert!(c.query_referrers(&p).expect("referrers").contains(&t));
    assert!(c.query_all_valid_paths().expect("all").contains(&t));

    // A NAR added as a content-addressed path; the daemon hashes it.
    let nar = oxnix::nar::fs::dump_path(&tree, Vec::new()).expect("nar");
    let again = c
        .add_ca_nar("tree", "fixed:r:sha256", &mut &nar[..])
        .expect("add nar");
    assert_eq!(again.path, p);
    // And the daemon's NAR of it is the same.
    let mut out = Vec::new();
    c.nar_from_path(&p, &mut out).expect("nar from path");
    assert_eq!(out, nar);
    // The connection goes on after a NAR (nothing read past its end).
    assert!(c.is_valid_path(&t).expect("valid"));

    // An error from the daemon is its message.
    let err = c
        .nar_from_path(&missing, &mut Vec::new())
        .expect_err("invalid");
    assert!(err.to_string().contains("is not valid"), "{err}");
    c.add_temp_root(&p).expect("temp root");
}

/// `nix-daemon` listening on a socket of our own; stopped when dropped.
struct SocketDaemon {
    child: Child,
    socket: PathBuf,
}

impl SocketDaemon {
    fn start(daemon: &Path, root: &Path, dir: &Path) -> SocketDaemon {
        let socket = dir.join("socket");
        let mut c = Command::new(daemon);
        nix_env(&mut c, root);
        // `auto` would pick the daemon itself while the state directory
        // does not exist yet.
        let child = c
            .args(["--store", "local"])
            .env("NIX_DAEMON_SOCKET_PATH", &socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nix-daemon");
        support::wait_for_cpp_daemon(&socket);
        SocketDaemon { child, socket }
    }
}

impl Drop for SocketDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_socket_daemon_builds_a_derivation() {
    let Some(daemon) = cpp_bin("nix-daemon") else {
        return;
    };
    if !Path::new("/bin/sh").exists() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let d = SocketDaemon::start(&daemon, &root, tmp.path());
    let mut c = DaemonClient::connect(&d.socket, store_dir(&root)).expect("connect");
    c.set_options(&[("sandbox".into(), "false".into())])
        .expect("options");
    // A trivial derivation, written as its .drv text.
    let dir = store_dir(&root);
    let drv_text = oxnix_drv(&dir);
    let drv = c
        .add_text("trivial.drv", drv_text.0.as_bytes(), &BTreeSet::new())
        .expect("add drv");
    assert_eq!(dir.print(&drv), drv_text.1);
    c.build_paths(&[format!("{}!out", dir.print(&drv))])
        .expect("build");
    let out = dir.parse_path(&drv_text.2).expect("out path");
    assert!(c.is_valid_path(&out).expect("valid"));
    let info = c.query_path_info(&out).expect("query").expect("valid");
    assert_eq!(info.deriver.as_ref(), Some(&drv));
    assert_eq!(
        std::fs::read_to_string(&drv_text.2).expect("output"),
        "built\n"
    );
}

/// A trivial derivation (text, its .drv path, its output path), made with
/// our own evaluator so that the paths are what C++ Nix computes.
fn oxnix_drv(dir: &StoreDir) -> (String, String, String) {
    let expr = r#"derivation { name = "trivial"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo built > $out" ]; }"#;
    let ev = oxnix::eval::Evaluator::new(oxnix::eval::EvalConfig {
        system: format!("{}-linux", std::env::consts::ARCH),
        store_dir: Some(dir.as_str().to_owned()),
        ..Default::default()
    });
    let v = ev
        .eval_source("«test»", Path::new("/"), expr.to_owned())
        .expect("eval");
    let drv_path = ev.force(get(&ev, &v, "drvPath")).expect("drvPath");
    let out_path = ev.force(get(&ev, &v, "outPath")).expect("outPath");
    let (drv_path, out_path) = (string(&drv_path), string(&out_path));
    let additions = ev.instantiation.take_additions();
    let text = additions
        .into_iter()
        .find_map(|a| match a {
            oxnix::eval::instantiation::Addition::Text { path, contents, .. }
                if dir.print(&path) == drv_path =>
            {
                Some(String::from_utf8(contents).expect("utf-8"))
            }
            _ => None,
        })
        .expect("the .drv text");
    (text, drv_path, out_path)
}

fn get(
    ev: &oxnix::eval::Evaluator,
    v: &oxnix::eval::value::Value,
    k: &str,
) -> oxnix::eval::value::Value {
    let v = ev.force(v.clone()).expect("force");
    match v {
        oxnix::eval::value::Value::Attrs(a) => a
            .get(&oxnix::eval::value::NixString::from(k))
            .cloned()
            .expect("attribute"),
        _ => panic!("not a set"),
    }
}

fn string(v: &oxnix::eval::value::Value) -> String {
    match v {
        oxnix::eval::value::Value::String(s) => s.to_str_lossy().into_owned(),
        _ => panic!("not a string"),
    }
}

/// A path of content address `text:sha256:…` (a text without references)
/// added through the daemon as a NAR (`AnyStore::add_nar`): the daemon
/// stores it at the text's path, with that content address, as
/// `add_text` would; a second text with references goes through
/// `AddToStore` too.
#[test]
fn a_text_content_address_is_added_through_the_socket() {
    let Some(daemon) = cpp_bin("nix-daemon") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let d = SocketDaemon::start(&daemon, &root, tmp.path());
    let dir = store_dir(&root);
    let store = oxnix::store::any::AnyStore::open(
        &oxnix::store::any::AnyAddress::Daemon {
            socket: d.socket.clone(),
            named: true,
        },
        dir.clone(),
    )
    .expect("open");
    let contents = b"a text, added as a NAR\n";
    let file = tmp.path().join("text");
    std::fs::write(&file, contents).expect("text");
    let nar = oxnix::nar::fs::dump_path(&file, Vec::new()).expect("nar");
    let path = dir
        .text_path("note", contents, &BTreeSet::new())
        .expect("text path");
    let hash = oxnix::hash::Hash::of_bytes(oxnix::hash::HashAlgo::Sha256, contents);
    let ca = format!("text:{}", hash.to_string_with(HashFormat::Nix32));
    store.add_nar(&path, &nar, &ca).expect("add text NAR");
    let printed = dir.print(&path);
    assert_eq!(std::fs::read(&printed).expect("stored"), contents);
    cpp_store(&root, &["--check-validity", &printed]);
    let info = store.query(&path).expect("query");
    assert_eq!(info.ca.as_deref(), Some(ca.as_str()));
    assert!(info.references.is_empty());

    let mut c = DaemonClient::connect(&d.socket, dir.clone()).expect("connect");
    let refs: BTreeSet<_> = [path.clone()].into_iter().collect();
    let text = format!("see {printed}");
    let info = c
        .add_to_store("see", "text:sha256", &refs, false, &mut text.as_bytes())
        .expect("add to store");
    assert_eq!(
        info.path,
        dir.text_path("see", text.as_bytes(), &refs)
            .expect("text path")
    );
    assert_eq!(info.references, refs);
    assert_eq!(
        cpp_store(&root, &["-q", "--references", &dir.print(&info.path)]).trim(),
        printed
    );
}

/// Runs `nix-store args…` (`bin`: C++ Nix's or ours) in the throwaway
/// store's environment.
fn nix_store_in(bin: &Path, root: &Path, args: &[&str]) -> std::process::Output {
    let mut c = Command::new(bin);
    nix_env(&mut c, root);
    c.env_remove("OXNIX_STORE")
        .env_remove("OXNIX_STORE_DIR")
        .args(args)
        .output()
        .expect("nix-store")
}

/// `nix-store --read-log`: C++ Nix builds a derivation that writes to its
/// log (kept compressed, its default), then our `nix-store -l` prints what
/// C++ Nix's does for the output path, the derivation, both, an unknown
/// path and a path outside the store, on its local store and through its
/// daemon (whose client reads the log directory itself), with the same
/// exit code and error.
#[test]
fn build_logs_are_read_as_cpp_nix_reads_them() {
    let (Some(daemon), Some(theirs)) = (cpp_bin("nix-daemon"), cpp_bin("nix-store")) else {
        return;
    };
    if !Path::new("/bin/sh").exists() {
        return;
    }
    let ours = Path::new(env!("CARGO_BIN_EXE_nix-store"));
    let (tmp, root, drv, out) = built_by_cpp_nix(&theirs);
    let missing = format!("{}/{}-x", root.join("store").display(), "a".repeat(32));
    let outside = tmp.path().display().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["--read-log", &out],
        vec!["-l", &drv],
        vec!["-l", &out, &drv],
        vec!["-l", &missing],
        vec!["-l", &out, &missing],
        vec!["-l", &outside],
        vec!["-l"],
        vec!["-l", "--foo", &out],
    ];
    let check = |extra: &[&str]| {
        for case in &cases {
            let args: Vec<&str> = extra.iter().chain(case.iter()).copied().collect();
            let (a, b) = (
                nix_store_in(ours, &root, &args),
                nix_store_in(&theirs, &root, &args),
            );
            assert_eq!(a.status.code(), b.status.code(), "exit code of {args:?}");
            assert_eq!(
                String::from_utf8_lossy(&a.stdout),
                String::from_utf8_lossy(&b.stdout),
                "stdout of {args:?}"
            );
            let first = |o: &std::process::Output| {
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            };
            assert_eq!(first(&a), first(&b), "stderr of {args:?}");
        }
    };
    let log = nix_store_in(ours, &root, &["-l", &out]);
    assert_eq!(String::from_utf8_lossy(&log.stdout), "FOO\nto-stderr\n");
    check(&[]);
    let d = SocketDaemon::start(&daemon, &root, tmp.path());
    let address = format!("unix://{}", d.socket.display());
    check(&["--store", &address]);
}

/// A derivation that writes to its log, built by C++ Nix's `nix-store -r`
/// in a throwaway store (`root` in the temporary directory): the
/// directory, the root, the `.drv` path and the output path.
fn built_by_cpp_nix(nix_store: &Path) -> (tempfile::TempDir, PathBuf, String, String) {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let (drv, out) = build_logged(nix_store, &root);
    (tmp, root, drv, out)
}

fn build_logged(nix_store: &Path, root: &Path) -> (String, String) {
    let mut c = Command::new("nix-instantiate");
    nix_env(&mut c, root);
    let expr = r#"derivation { name = "logged"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo FOO; echo to-stderr >&2; echo built > $out" ]; }"#;
    let out = c.args(["-E", expr]).output().expect("nix-instantiate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drv = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let built = nix_store_in(nix_store, root, &["-r", &drv]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let out = String::from_utf8_lossy(&built.stdout).trim().to_owned();
    assert!(out.ends_with("-logged"), "{out}");
    (drv, out)
}

/// `nix-store --generate-binary-cache-key`: C++ Nix's `nix store sign`
/// signs a path it built with our secret key, its `nix store verify`
/// trusts the path with our public key and not with another pair's.
#[test]
fn cpp_nix_signs_and_verifies_with_our_keys() {
    let (Some(theirs), Some(nix)) = (cpp_bin("nix-store"), cpp_bin("nix")) else {
        return;
    };
    if !Path::new("/bin/sh").exists() {
        return;
    }
    let ours = Path::new(env!("CARGO_BIN_EXE_nix-store"));
    let (tmp, root, _, out) = built_by_cpp_nix(&theirs);
    let keys = |name: &str| {
        let (sk, pk) = (
            tmp.path().join(format!("{name}.sk")),
            tmp.path().join(format!("{name}.pk")),
        );
        let made = nix_store_in(
            ours,
            &root,
            &[
                "--generate-binary-cache-key",
                name,
                sk.to_str().unwrap(),
                pk.to_str().unwrap(),
            ],
        );
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        (sk, std::fs::read_to_string(&pk).expect("public key"))
    };
    let (sk, pk) = keys("cache1.example.org");
    let (_, other_pk) = keys("cache2.example.org");
    let nix_cmd = |args: &[&str]| {
        let mut c = Command::new(&nix);
        nix_env(&mut c, &root);
        c.args(["--extra-experimental-features", "nix-command"])
            .args(args)
            .output()
            .expect("nix")
    };
    let verify = |key: &str| {
        nix_cmd(&[
            "store",
            "verify",
            "--sigs-needed",
            "1",
            "--trusted-public-keys",
            key,
            &out,
        ])
    };
    assert!(!verify(&pk).status.success(), "unsigned yet");
    let signed = nix_cmd(&["store", "sign", "--key-file", sk.to_str().unwrap(), &out]);
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let v = verify(&pk);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    assert!(!verify(&other_pk).status.success());
}
