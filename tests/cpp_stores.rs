//! Our commands on the stores of an installed C++ Nix: its local store
//! (files and SQLite database, in a throwaway store and state directory)
//! and its daemon (started by the test on a socket in a temporary
//! directory). What our `nix-instantiate` writes is built by C++ Nix 2.8's
//! `nix-store -r`, directly and through the daemon; both writing at once
//! lose nothing. Skipped with a message without C++ Nix, failing instead
//! under `OXNIX_REQUIRE_SERVICES=1`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const NIX_INSTANTIATE: &str = env!("CARGO_BIN_EXE_nix-instantiate");

fn have_cpp() -> bool {
    let ok = Path::new("/usr/bin/nix-store").exists() && Path::new("/usr/bin/nix-daemon").exists();
    if !ok {
        if std::env::var_os("OXNIX_REQUIRE_SERVICES").is_some() {
            panic!("C++ Nix is required (OXNIX_REQUIRE_SERVICES=1)");
        }
        eprintln!("skipped: C++ Nix (nix-store, nix-daemon) is not installed");
    }
    ok
}

/// A throwaway C++ Nix installation: store, state, log and configuration
/// directories (builds as root without build users or a sandbox).
struct Nix {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Nix {
    fn new() -> Nix {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().to_owned();
        std::fs::create_dir_all(root.join("conf")).expect("conf");
        std::fs::write(
            root.join("conf/nix.conf"),
            "build-users-group =\nsandbox = false\nsubstituters =\n",
        )
        .expect("nix.conf");
        Nix { _tmp: tmp, root }
    }

    fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    fn command(&self, bin: &str) -> Command {
        let mut c = Command::new(bin);
        c.current_dir(&self.root)
            .env("NIX_STORE_DIR", self.store())
            .env("NIX_STATE_DIR", self.root.join("state"))
            .env("NIX_LOG_DIR", self.root.join("log"))
            .env("NIX_CONF_DIR", self.root.join("conf"))
            .env("HOME", &self.root)
            .env_remove("NIX_REMOTE")
            .env_remove("OXNIX_STORE")
            .env_remove("OXNIX_STORE_DIR")
            .env_remove("NIX_PATH")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.command(bin);
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("running a command")
    }

    fn ok(&self, bin: &str, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.run(bin, args, env);
        assert!(
            out.status.success(),
            "{bin} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.root.join(name), text).expect("write");
        self.root.join(name).display().to_string()
    }
}

fn drv_expr(name: &str, text: &str) -> String {
    format!(
        r#"derivation {{ name = "{name}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo {text} > $out" ]; src = builtins.toFile "{name}-src" "source of {name}"; }}"#
    )
}

#[test]
fn cpp_nix_builds_what_we_instantiate_into_its_local_store() {
    if !have_cpp() {
        return;
    }
    let nix = Nix::new();
    let file = nix.write("a.nix", &drv_expr("local-a", "built-locally"));
    let drv = nix.ok(NIX_INSTANTIATE, &["--store", "local", &file], &[]);
    assert!(drv.starts_with(&nix.store().display().to_string()), "{drv}");
    // The same .drv path as C++ Nix's own nix-instantiate.
    let theirs = nix.ok("nix-instantiate", &[&file], &[]);
    assert_eq!(drv, theirs);
    let out = nix.ok("nix-store", &["-r", &drv], &[]);
    assert_eq!(
        std::fs::read_to_string(&out).expect("output"),
        "built-locally\n"
    );
    nix.ok("nix-store", &["--verify", "--check-contents"], &[]);
    // NIX_REMOTE=local chooses it too; --add-root registers a root C++
    // Nix's collector sees.
    let file = nix.write("b.nix", &drv_expr("local-b", "b"));
    nix.ok(
        NIX_INSTANTIATE,
        &["--add-root", "r", &file],
        &[("NIX_REMOTE", "local")],
    );
    let roots = nix.ok("nix-store", &["--gc", "--print-roots"], &[]);
    assert!(
        roots.contains(&nix.root.join("r").display().to_string()),
        "{roots}"
    );
    // The evaluator reads what C++ Nix's store holds: a context path is
    // checked against its database.
    let src = nix.ok("nix-store", &["--add", &file], &[]);
    let read = nix.ok(
        NIX_INSTANTIATE,
        &[
            "--store",
            "local",
            "--eval",
            "-E",
            &format!("builtins.readFile \"${{builtins.storePath {src}}}\""),
        ],
        &[],
    );
    assert!(read.contains("local-b"), "{read}");
}

/// C++ Nix's daemon on a socket of the test's; stopped when dropped.
struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn start(nix: &Nix) -> Daemon {
        let socket = nix.root.join("daemon.sock");
        let child = nix
            .command("nix-daemon")
            .args(["--store", "local"])
            .env("NIX_DAEMON_SOCKET_PATH", &socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nix-daemon");
        support::wait_for_cpp_daemon(&socket);
        Daemon { child, socket }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cpp_nix_builds_what_we_instantiate_through_its_daemon() {
    if !have_cpp() {
        return;
    }
    let nix = Nix::new();
    let daemon = Daemon::start(&nix);
    let remote = format!("unix://{}", daemon.socket.display());
    let file = nix.write("d.nix", &drv_expr("daemon-d", "built-by-the-daemon"));
    let drv = nix.ok(NIX_INSTANTIATE, &[&file], &[("NIX_REMOTE", &remote)]);
    let out = nix.ok("nix-store", &["-r", &drv], &[("NIX_REMOTE", &remote)]);
    assert_eq!(
        std::fs::read_to_string(&out).expect("output"),
        "built-by-the-daemon\n"
    );
    // --store with the socket's address, and a root through the daemon.
    let file = nix.write("e.nix", &drv_expr("daemon-e", "e"));
    nix.ok(
        NIX_INSTANTIATE,
        &["--store", &remote, "--add-root", "er", &file],
        &[],
    );
    let roots = nix.ok("nix-store", &["--gc", "--print-roots"], &[]);
    assert!(
        roots.contains(&nix.root.join("er").display().to_string()),
        "{roots}"
    );
    nix.ok("nix-store", &["--verify", "--check-contents"], &[]);
}

#[test]
fn cpp_nix_and_we_instantiate_into_one_store_at_once() {
    if !have_cpp() {
        return;
    }
    let nix = Nix::new();
    // The store exists before the rush, as on an installed machine.
    nix.ok("nix-store", &["--init"], &[]);
    let mut children = Vec::new();
    for i in 0..8 {
        let file = nix.write(
            &format!("c{i}.nix"),
            &format!(
                "let mk = k: {}; in builtins.genList mk 20",
                drv_expr(&format!("c{i}-${{toString k}}"), "x")
            ),
        );
        let bin = if i % 2 == 0 {
            NIX_INSTANTIATE
        } else {
            "nix-instantiate"
        };
        let mut c = nix.command(bin);
        c.args(["--store", "local", &file])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        children.push((bin, c.spawn().expect("spawn")));
    }
    let mut drvs = Vec::new();
    for (bin, c) in children {
        let out = c.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{bin}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        drvs.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned),
        );
    }
    assert_eq!(drvs.len(), 160);
    let valid = nix.ok("nix-store", &["--check-validity", "--print-invalid"], &[]);
    assert!(valid.is_empty());
    let mut args = vec!["--check-validity"];
    args.extend(drvs.iter().map(String::as_str));
    nix.ok("nix-store", &args, &[]);
    nix.ok("nix-store", &["--verify", "--check-contents"], &[]);
}

const NIX_STORE: &str = env!("CARGO_BIN_EXE_nix-store");

/// Runs our `nix-store` and C++ Nix's with the same arguments and
/// environment; their stdout and exit codes must agree.
fn same(nix: &Nix, args: &[&str], env: &[(&str, &str)]) -> String {
    let ours = nix.run(NIX_STORE, args, env);
    let theirs = nix.run("nix-store", args, env);
    assert_eq!(
        (ours.status.code(), String::from_utf8_lossy(&ours.stdout)),
        (
            theirs.status.code(),
            String::from_utf8_lossy(&theirs.stdout)
        ),
        "nix-store {args:?}: ours (stderr {}) vs C++ (stderr {})",
        String::from_utf8_lossy(&ours.stderr),
        String::from_utf8_lossy(&theirs.stderr)
    );
    String::from_utf8_lossy(&ours.stdout).into_owned()
}

/// Our nix-store on C++ Nix's store, with `env` choosing it: what it adds
/// C++ Nix sees, and its queries answer as C++ Nix's.
fn nix_store_on(nix: &Nix, env: &[(&str, &str)]) {
    let tree = nix.root.join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("tree");
    std::fs::write(tree.join("sub/f"), "file\n").expect("f");
    std::os::unix::fs::symlink("sub/f", tree.join("l")).expect("link");
    let ours = nix.ok(NIX_STORE, &["--add", tree.to_str().expect("utf-8")], env);
    nix.ok("nix-store", &["--check-validity", &ours], env);
    let flat = nix.ok(
        NIX_STORE,
        &[
            "--add-fixed",
            "sha1",
            tree.join("sub/f").to_str().expect("utf-8"),
        ],
        env,
    );
    nix.ok("nix-store", &["--check-validity", &flat], env);
    // A derivation (ours), built by C++ Nix; then queries on all of it.
    let file = nix.write("q.nix", &drv_expr("queried", "q"));
    let drv = nix.ok(NIX_INSTANTIATE, &[&file], env);
    let out = nix.ok("nix-store", &["-r", &drv], env);
    for args in [
        vec!["-q", "--hash", &ours],
        vec!["-q", "--size", &ours],
        vec!["-q", "--references", &drv],
        vec!["-q", "--requisites", &drv],
        vec!["-q", "--requisites", "--include-outputs", &drv],
        vec!["-q", "--referrers", &out],
        vec!["-q", "--deriver", &out],
        vec!["-q", "--outputs", &drv],
        vec!["-q", "--tree", &drv],
        vec!["-q", "--graph", &drv],
        vec!["-q", "--binding", "system", &drv],
        vec!["-q", "--hash", "--use-output", &drv],
        vec!["--check-validity", &ours, &drv, &out],
        vec!["--verify-path", &ours, &out],
        vec!["--print-env", &drv],
        vec!["-r", &out],
        vec!["-r", &drv],
        vec!["--dump", &ours],
        vec!["--export", &ours],
        vec!["--export", &drv],
    ] {
        same(nix, &args, env);
    }
    let missing = format!(
        "{}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-missing",
        nix.store().display()
    );
    same(nix, &["--check-validity", "--print-invalid", &missing], env);
    same(nix, &["-q", "--hash", &missing], env);
    // An export of C++ Nix's imports into another local store of ours, and
    // is valid and identical there to C++ Nix.
    if env.iter().any(|(_, v)| v.starts_with("unix://")) {
        // Through the daemon: a path deleted there comes back by --import.
        let x = nix.write("imported", "to export and import");
        let p = nix.ok("nix-store", &["--add", &x], env);
        let export = nix.run("nix-store", &["--export", &p], env);
        nix.ok(NIX_STORE, &["--delete", &p], env);
        let mut c = nix.command(NIX_STORE);
        c.arg("--import")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("import");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(&export.stdout).expect("feed");
        }
        let imported = child.wait_with_output().expect("import");
        assert!(
            imported.status.success(),
            "{}",
            String::from_utf8_lossy(&imported.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&imported.stdout).trim(), p);
        nix.ok("nix-store", &["--check-validity", &p], env);
    }
    if env.iter().any(|(_, v)| *v == "local") {
        let closure = nix.ok("nix-store", &["-qR", &drv], env);
        let mut args = vec!["--export"];
        args.extend(closure.lines());
        let export = nix.run("nix-store", &args, env);
        assert!(export.status.success());
        let other = nix.root.join("other");
        let mut c = nix.command(NIX_STORE);
        c.args([
            "--store",
            &format!("local?root={}", other.display()),
            "--import",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().expect("import");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(&export.stdout).expect("feed");
        }
        let imported = child.wait_with_output().expect("import");
        assert!(
            imported.status.success(),
            "{}",
            String::from_utf8_lossy(&imported.stderr)
        );
        let store_arg = format!("local?root={}", other.display());
        let cpp = nix.ok(
            "nix-store",
            &["--store", &store_arg, "--check-validity", &drv],
            env,
        );
        assert!(cpp.is_empty());
        nix.ok(
            "nix-store",
            &["--store", &store_arg, "--verify", "--check-contents"],
            env,
        );
    }
    if env.iter().any(|(_, v)| v.starts_with("unix://")) {
        // Through the daemon, its own collector works for us.
        let x = nix.write("x", "unrooted");
        let unrooted = nix.ok("nix-store", &["--add", &x], env);
        let rooted = nix.ok("nix-store", &["--add", &file], env);
        let link = nix.root.join("gc-root").display().to_string();
        nix.ok("nix-store", &["--add-root", &link, "-r", &rooted], env);
        for args in [
            vec!["--gc", "--print-roots"],
            vec!["--gc", "--print-live"],
            vec!["--gc", "--print-dead"],
            vec!["-q", "--roots", &rooted],
        ] {
            same(nix, &args, env);
        }
        let alive = nix.run(NIX_STORE, &["--delete", &rooted], env);
        assert_eq!(alive.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&alive.stderr).contains("since it is still alive"));
        let deleted = nix.ok(NIX_STORE, &["--delete", &unrooted], env);
        assert!(deleted.starts_with("1 store paths deleted"), "{deleted}");
        nix.ok(NIX_STORE, &["--gc"], env);
        nix.ok("nix-store", &["--check-validity", &rooted], env);
    } else {
        // On its local store our collector is Nix 2.8's: it finds what
        // C++ Nix finds.
        for args in [
            vec!["--gc", "--print-roots"],
            vec!["--gc", "--print-live"],
            vec!["--gc", "--print-dead"],
        ] {
            same(nix, &args, env);
        }
    }
    nix.ok("nix-store", &["--verify", "--check-contents"], env);
}

#[test]
fn our_nix_store_on_cpp_nix_local_store() {
    if !have_cpp() {
        return;
    }
    let nix = Nix::new();
    nix_store_on(&nix, &[("NIX_REMOTE", "local")]);
}

#[test]
fn our_nix_store_through_the_daemon() {
    if !have_cpp() {
        return;
    }
    let nix = Nix::new();
    let daemon = Daemon::start(&nix);
    let remote = format!("unix://{}", daemon.socket.display());
    nix_store_on(&nix, &[("NIX_REMOTE", &remote)]);
    // Our nix-store -r has the daemon build a derivation.
    let file = nix.write("b.nix", &drv_expr("built-for-us", "by-the-daemon"));
    let drv = nix.ok(NIX_INSTANTIATE, &[&file], &[("NIX_REMOTE", &remote)]);
    let out = nix.ok(NIX_STORE, &["-r", &drv], &[("NIX_REMOTE", &remote)]);
    assert_eq!(
        std::fs::read_to_string(&out).expect("output"),
        "by-the-daemon\n"
    );
    // builtins.path, flat (with and without the hash given) and recursive,
    // added through the daemon: the paths C++ Nix makes, valid there.
    nix.write("flat-src", "flat contents\n");
    let file = nix.write(
        "flat.nix",
        r#"[ (builtins.path { path = ./flat-src; recursive = false; }) (builtins.path { path = ./flat-src; recursive = false; name = "given"; sha256 = builtins.hashFile "sha256" ./flat-src; }) (builtins.path { path = ./flat-src; name = "rec"; }) ]"#,
    );
    let args = ["--eval", "--strict", "--read-write-mode", &file];
    let ours = nix.ok(NIX_INSTANTIATE, &args, &[("NIX_REMOTE", &remote)]);
    let paths: Vec<&str> = ours.split('"').filter(|p| p.starts_with('/')).collect();
    assert_eq!(paths.len(), 3, "{ours}");
    for p in &paths {
        nix.ok(
            "nix-store",
            &["--check-validity", p],
            &[("NIX_REMOTE", &remote)],
        );
    }
    let theirs = nix.ok("nix-instantiate", &args, &[("NIX_REMOTE", &remote)]);
    assert_eq!(ours, theirs);
    nix.ok(
        "nix-store",
        &["--verify", "--check-contents"],
        &[("NIX_REMOTE", "local")],
    );
}

#[test]
fn a_nix_installation_is_the_default_store() {
    if !have_cpp() {
        return;
    }
    // No NIX_REMOTE, no OXNIX_STORE: where Nix's state directory exists,
    // our commands use C++ Nix's store, as its own commands would.
    let nix = Nix::new();
    nix.ok("nix-store", &["--init"], &[]);
    let file = nix.write("c.nix", &drv_expr("default-store", "d"));
    let drv = nix.ok(NIX_INSTANTIATE, &[&file], &[]);
    nix.ok("nix-store", &["--check-validity", &drv], &[]);
    let ours = nix.ok(NIX_STORE, &["-q", "--references", &drv], &[]);
    let theirs = nix.ok("nix-store", &["-q", "--references", &drv], &[]);
    assert_eq!(ours, theirs);
    // OXNIX_STORE_DIR chooses oxnix's own store explicitly.
    let oxnix = nix.root.join("oxnix");
    let out = nix.run(
        NIX_STORE,
        &["--check-validity", &drv],
        &[("OXNIX_STORE_DIR", oxnix.to_str().expect("utf-8"))],
    );
    assert_eq!(out.status.code(), Some(1));
}

/// Runs our `nix-store` and C++ Nix's with the same arguments, environment
/// and standard input (as user 65534 with `as_nobody`); their stdout,
/// stderr and exit codes must be the same. Answers our stderr.
fn same_all(
    nix: &Nix,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &[u8],
    as_nobody: bool,
) -> String {
    let run = |bin: &str| {
        let mut c = if as_nobody {
            let mut c = nix.command("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
            c
        } else {
            nix.command(bin)
        };
        c.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn");
        {
            use std::io::Write;
            let mut input = child.stdin.take().expect("stdin");
            // The command may stop reading early.
            let _ = input.write_all(stdin);
        }
        child.wait_with_output().expect("wait")
    };
    let ours = run(NIX_STORE);
    let theirs = run("nix-store");
    let show = |o: &Output| {
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(
        show(&ours),
        show(&theirs),
        "nix-store {args:?} (as nobody: {as_nobody}): ours, then C++ Nix's"
    );
    String::from_utf8_lossy(&ours.stderr).into_owned()
}

/// The whole-store operations through the daemon, ours and C++ Nix 2.8's
/// client alike: --optimise (ours links, C++ Nix's --verify then finds the
/// store intact), --verify [--check-contents] [--repair] on a store with a
/// modified file, --dump-db, --load-db and --register-validity (read,
/// checked, then refused as C++ Nix's client refuses a non-local store),
/// --repair-path (unsupported by a daemon store, named as C++ Nix names
/// it); as root and, where `setpriv` can make us user 65534, as a user
/// the daemon does not trust.
#[test]
fn whole_store_operations_through_the_daemon() {
    if !have_cpp() {
        return;
    }
    let nix = Nix::new();
    let daemon = Daemon::start(&nix);
    let remote = format!("unix://{}", daemon.socket.display());
    let env = [("NIX_REMOTE", remote.as_str())];
    let env = &env[..];
    // Trees with files alike, to be linked; a derivation's output, with a
    // deriver and references.
    for t in ["t1", "t2"] {
        let tree = nix.root.join(t);
        std::fs::create_dir_all(tree.join("sub")).expect("tree");
        std::fs::write(tree.join("sub/same"), "the same contents\n").expect("f");
        std::fs::write(tree.join("own"), format!("{t}\n")).expect("f");
    }
    let t1 = nix.ok("nix-store", &["--add", "t1"], env);
    nix.ok("nix-store", &["--add", "t2"], env);
    let file = nix.write("w.nix", &drv_expr("whole", "w"));
    let drv = nix.ok("nix-instantiate", &[&file], env);
    let out = nix.ok("nix-store", &["-r", &drv], env);

    let optimised = nix.run(NIX_STORE, &["--optimise"], env);
    assert!(optimised.status.success());
    let said = String::from_utf8_lossy(&optimised.stderr).into_owned();
    let linked: u64 = said
        .strip_prefix("0.00 MiB freed by hard-linking ")
        .and_then(|s| s.strip_suffix(" files\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(linked > 0, "{said}");
    nix.ok("nix-store", &["--verify", "--check-contents"], env);
    same_all(&nix, &["--optimise"], env, b"", false);
    same_all(&nix, &["-v", "--optimise"], env, b"", false);

    // A path whose file is changed behind the store's back.
    let m = nix.write("m", "as added\n");
    let m = nix.ok("nix-store", &["--add", &m], env);
    {
        use std::os::unix::fs::PermissionsExt;
        let p = std::fs::Permissions::from_mode(0o644);
        std::fs::set_permissions(&m, p).expect("chmod");
        std::fs::write(&m, "modified\n").expect("modify");
        std::fs::set_permissions(&m, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    }
    same_all(&nix, &["--verify"], env, b"", false);
    let err = same_all(&nix, &["--verify", "--check-contents"], env, b"", false);
    assert!(err.contains("was modified!"), "{err}");
    assert!(
        err.ends_with("warning: not all store errors were fixed\n"),
        "{err}"
    );
    same_all(
        &nix,
        &["--quiet", "--verify", "--check-contents"],
        env,
        b"",
        false,
    );
    same_all(
        &nix,
        &["-v", "--verify", "--check-contents"],
        env,
        b"",
        false,
    );
    let err = same_all(
        &nix,
        &["--verify", "--check-contents", "--repair"],
        env,
        b"",
        false,
    );
    assert!(
        err.contains(&format!("error: cannot repair path '{m}'")),
        "{err}"
    );
    same_all(&nix, &["--verify", "--repair"], env, b"", false);

    let db = same_all(&nix, &["--dump-db"], env, b"", false);
    assert!(db.is_empty());
    let dump = nix.ok("nix-store", &["--dump-db"], env);
    assert!(dump.contains(&drv), "{dump}");
    same_all(&nix, &["--dump-db", &out, &drv], env, b"", false);
    same_all(&nix, &["--dump-db", &out, "/tmp"], env, b"", false);
    let missing = format!(
        "{}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-missing",
        nix.store().display()
    );
    same_all(&nix, &["--dump-db", &missing], env, b"", false);

    let dump = format!("{dump}\n");
    let refused = same_all(&nix, &["--load-db"], env, dump.as_bytes(), false);
    assert_eq!(
        refused,
        "error: you don't have sufficient rights to use this command\n"
    );
    same_all(&nix, &["--load-db"], env, b"garbage\n\n", false);
    let reg = format!("{out}\n{drv}\n0\n");
    for args in [
        vec!["--register-validity"],
        vec!["--register-validity", "--reregister"],
        vec!["--register-validity", "--reregister", "--hash-given"],
    ] {
        let input = if args.contains(&"--hash-given") {
            dump.as_str()
        } else {
            reg.as_str()
        };
        same_all(&nix, &args, env, input.as_bytes(), false);
    }
    let reg_missing = format!("{missing}\n\n0\n");
    let err = same_all(
        &nix,
        &["--register-validity"],
        env,
        reg_missing.as_bytes(),
        false,
    );
    assert!(err.contains("getting status of"), "{err}");

    let err = same_all(&nix, &["--repair-path", &m, &t1], env, b"", false);
    assert_eq!(
        err,
        format!("error: operation 'repairPath' is not supported by store '{remote}'\n")
    );
    same_all(&nix, &["--repair-path", "/tmp"], env, b"", false);
    same_all(&nix, &["--repair-path"], env, b"", false);
    // `daemon` (the socket of $NIX_DAEMON_SOCKET_PATH) is named so.
    let socket = daemon.socket.display().to_string();
    let err = same_all(
        &nix,
        &["--repair-path", &m],
        &[
            ("NIX_REMOTE", "daemon"),
            ("NIX_DAEMON_SOCKET_PATH", &socket),
        ],
        b"",
        false,
    );
    assert_eq!(
        err,
        "error: operation 'repairPath' is not supported by store 'daemon'\n"
    );

    // A user the daemon does not trust (as root, made user 65534).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("not checked: an untrusted client (needs root and setpriv)");
        return;
    }
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&nix.root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let err = same_all(
        &nix,
        &["--verify", "--check-contents", "--repair"],
        env,
        b"",
        true,
    );
    assert_eq!(err, "error: you are not privileged to repair paths\n");
    same_all(&nix, &["--verify", "--check-contents"], env, b"", true);
    same_all(&nix, &["--optimise"], env, b"", true);
    same_all(&nix, &["--dump-db", &out], env, b"", true);
    let err = same_all(
        &nix,
        &["--register-validity", "--reregister"],
        env,
        reg.as_bytes(),
        true,
    );
    assert!(err.contains("changing owner of"), "{err}");
    same_all(&nix, &["--load-db"], env, dump.as_bytes(), true);
    same_all(&nix, &["--repair-path", &m], env, b"", true);
}
