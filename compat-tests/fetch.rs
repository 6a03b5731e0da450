//! The fetchers over HTTP, against C++ Nix 2.8: `builtins.fetchurl`,
//! `builtins.fetchTarball` and URL search path entries downloading from a
//! throwaway HTTP server on loopback (a real server: a socket, HTTP/1.1
//! requests, a thread answering them), each command line run with ours
//! and with C++ Nix's `nix-instantiate` (same stdout, exit code and first
//! line of stderr), and with ours on an oxnix store of its own.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use super::{first_line, oracle, OURS_INSTANTIATE};

/// Files served by path, and how many times each path was asked for.
struct Server {
    port: u16,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

/// Serves `files` on 127.0.0.1 (any free port) until the process ends;
/// an unknown path is a 404.
fn serve(files: HashMap<String, Vec<u8>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("address").port();
    let hits = Arc::new(Mutex::new(HashMap::new()));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().expect("clone socket"));
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // The rest of the head, up to the empty line.
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let path = request.split(' ').nth(1).unwrap_or("").to_owned();
            *counted
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(path.clone())
                .or_insert(0) += 1;
            let (status, body) = match files.get(&path) {
                Some(b) => ("200 OK", b.clone()),
                None => ("404 Not Found", b"not found\n".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        }
    });
    Server { port, hits }
}

/// A gzipped tarball of one directory `top` holding a Nix file, an
/// executable and a symlink.
fn tarball(top: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    let mut add = |path: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        b.append_data(&mut h, format!("{top}/{path}"), data)
            .expect("tar entry");
    };
    add("default.nix", 0o644, b"{ fetched = \"over http\"; }\n");
    add("bin/run", 0o755, b"#!/bin/sh\necho run\n");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_cksum();
    b.append_link(&mut h, format!("{top}/link"), "bin/run")
        .expect("tar symlink");
    b.into_inner().expect("tar").finish().expect("gzip")
}

fn instantiate(bin: &Path, args: &[&str], dir: &Path, oxnix_store: Option<&Path>) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("NIX_PATH")
        .env_remove("NIX_REMOTE")
        .env_remove("OXNIX_STORE")
        .env_remove("OXNIX_STORE_DIR");
    if let Some(s) = oxnix_store {
        cmd.env("OXNIX_STORE_DIR", s);
    }
    cmd.output().expect("run nix-instantiate")
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}, stdout {:?}, stderr {:?}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn fetchers_over_http_match_cpp_nix() {
    let Some(theirs) = oracle("nix-instantiate") else {
        return;
    };
    let tag = std::process::id();
    let text = format!("fetched text {tag}\n").into_bytes();
    let files: HashMap<String, Vec<u8>> = [
        ("/file.txt".to_owned(), text.clone()),
        ("/src.tar.gz".to_owned(), tarball(&format!("src-{tag}"))),
        ("/race.tar.gz".to_owned(), tarball(&format!("race-{tag}"))),
    ]
    .into_iter()
    .collect();
    let server = serve(files);
    let base = format!("http://127.0.0.1:{}", server.port);
    let tmp = tempfile::tempdir().expect("tmp");
    let own_store = tmp.path().join("oxnix-store");
    let cases: Vec<Vec<String>> = vec![
        vec![
            "--eval".into(),
            "-E".into(),
            format!("builtins.fetchurl \"{base}/file.txt\""),
        ],
        vec![
            "--eval".into(),
            "-E".into(),
            format!("builtins.readFile (builtins.fetchurl {{ url = \"{base}/file.txt\"; name = \"n\"; }})"),
        ],
        vec![
            "--eval".into(),
            "--strict".into(),
            "-E".into(),
            format!(
                "let p = builtins.fetchTarball \"{base}/src.tar.gz\"; in [ p (import p) (builtins.readDir p) (builtins.readFile (p + \"/link\")) ]"
            ),
        ],
        vec![
            "--eval".into(),
            "--strict".into(),
            "-I".into(),
            format!("web={base}/src.tar.gz"),
            "-E".into(),
            "import <web>".into(),
        ],
        vec![
            "--eval".into(),
            "-E".into(),
            format!("builtins.fetchurl \"{base}/missing\""),
        ],
        vec![
            "--eval".into(),
            "-E".into(),
            format!(
                "builtins.fetchTarball {{ url = \"{base}/src.tar.gz\"; sha256 = \"0000000000000000000000000000000000000000000000000000\"; }}"
            ),
        ],
    ];
    for case in &cases {
        let args: Vec<&str> = case.iter().map(String::as_str).collect();
        let a = instantiate(Path::new(OURS_INSTANTIATE), &args, tmp.path(), None);
        let b = instantiate(&theirs, &args, tmp.path(), None);
        let same = a.status.code() == b.status.code()
            && a.stdout == b.stdout
            && first_line(&a.stderr) == first_line(&b.stderr);
        assert!(same, "{args:?}\n  ours: {}\n  C++:  {}", show(&a), show(&b));
        // On an oxnix store of its own: the same values.
        let c = instantiate(
            Path::new(OURS_INSTANTIATE),
            &args,
            tmp.path(),
            Some(&own_store),
        );
        assert!(
            c.status.code() == b.status.code() && c.stdout == b.stdout,
            "{args:?} on an oxnix store\n  ours: {}\n  C++:  {}",
            show(&c),
            show(&b)
        );
    }
    // Several processes fetching the same tarball into one store at once
    // (C++ Nix's store, and an oxnix store of their own): each gets the
    // path C++ Nix gets, with its contents.
    // (A tarball no case fetched before; C++ Nix fetches it afterwards.)
    let expr = format!("let p = builtins.fetchTarball \"{base}/race.tar.gz\"; in [ p (import p) ]");
    let args = ["--eval", "--strict", "-E", expr.as_str()];
    let shared_store = tmp.path().join("shared-oxnix-store");
    let mut outputs = Vec::new();
    for store in [None, Some(shared_store.as_path())] {
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let mut cmd = Command::new(OURS_INSTANTIATE);
                cmd.args(args)
                    .current_dir(tmp.path())
                    .env_remove("NIX_REMOTE")
                    .env_remove("OXNIX_STORE")
                    .env_remove("OXNIX_STORE_DIR");
                if let Some(s) = store {
                    cmd.env("OXNIX_STORE_DIR", s);
                }
                cmd.stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn nix-instantiate")
            })
            .collect();
        for run in runs {
            outputs.push((store, run.wait_with_output().expect("wait")));
        }
    }
    let want = instantiate(&theirs, &args, tmp.path(), None);
    assert!(want.status.success(), "{}", show(&want));
    for (store, o) in outputs {
        assert!(
            o.status.success() && o.stdout == want.stdout,
            "at once, store {store:?}: {}\n  C++: {}",
            show(&o),
            show(&want)
        );
    }
    // One download per URL in one evaluation, however often it is asked.
    let before = server.hits.lock().expect("hits").get("/file.txt").copied();
    let expr = format!(
        "[ (builtins.fetchurl \"{base}/file.txt\") (builtins.fetchurl \"{base}/file.txt\") ]"
    );
    let o = instantiate(
        Path::new(OURS_INSTANTIATE),
        &["--eval", "--strict", "-E", &expr],
        tmp.path(),
        None,
    );
    assert!(o.status.success(), "{}", show(&o));
    let after = server.hits.lock().expect("hits").get("/file.txt").copied();
    assert_eq!(after.unwrap_or(0), before.unwrap_or(0) + 1);
}

/// Runs `openssl` with `args` in `dir`; false when it is not installed.
fn openssl(dir: &Path, args: &[&str]) -> bool {
    match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => panic!("openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => false,
    }
}

/// `openssl s_server` serving `dir` over HTTPS on loopback; killed on drop.
struct TlsServer(std::process::Child);

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// HTTPS downloads trust the certificate authorities C++ Nix's do:
/// `NIX_SSL_CERT_FILE` or `SSL_CERT_FILE` naming a throwaway CA that
/// signed a loopback server's certificate (`openssl s_server -WWW`) give
/// the same results as C++ Nix; without them the server is not trusted.
#[test]
fn https_downloads_trust_the_ca_files_cpp_nix_trusts() {
    let Some(theirs) = oracle("nix-instantiate") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let made = openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=oxnix test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    if !made {
        if std::env::var_os("OXNIX_REQUIRE_SERVICES").is_some() {
            panic!("openssl is required for the HTTPS fetcher test");
        }
        eprintln!("SKIPPING https fetcher test: openssl is not installed");
        return;
    }
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    assert!(openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ));
    assert!(openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    ));
    let www = dir.join("www");
    std::fs::create_dir(&www).expect("www");
    let tag = std::process::id();
    std::fs::write(www.join("file.txt"), format!("over tls {tag}\n")).expect("file");
    std::fs::write(www.join("src.tar.gz"), tarball(&format!("tls-{tag}"))).expect("tarball");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let _server = TlsServer(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(dir.join("srv.pem"))
            .arg("-key")
            .arg(dir.join("srv.key"))
            .current_dir(&www)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server"),
    );
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "openssl s_server did not start");
    let base = format!("https://127.0.0.1:{port}");
    let ca = dir.join("ca.pem");
    let exprs = [
        format!("builtins.readFile (builtins.fetchurl \"{base}/file.txt\")"),
        format!("let p = builtins.fetchTarball \"{base}/src.tar.gz\"; in [ p (import p) ]"),
    ];
    for var in ["NIX_SSL_CERT_FILE", "SSL_CERT_FILE"] {
        for expr in &exprs {
            let run = |bin: &Path| {
                Command::new(bin)
                    .args(["--eval", "--strict", "-E", expr])
                    .current_dir(dir)
                    .env_remove("NIX_SSL_CERT_FILE")
                    .env_remove("SSL_CERT_FILE")
                    .env(var, &ca)
                    .env_remove("NIX_REMOTE")
                    .env_remove("OXNIX_STORE")
                    .env_remove("OXNIX_STORE_DIR")
                    .output()
                    .expect("run nix-instantiate")
            };
            let (a, b) = (run(Path::new(OURS_INSTANTIATE)), run(&theirs));
            assert!(
                a.status.success() && a.status.code() == b.status.code() && a.stdout == b.stdout,
                "{var} {expr}\n  ours: {}\n  C++:  {}",
                show(&a),
                show(&b)
            );
        }
    }
    // The throwaway CA is trusted only when named.
    let o = Command::new(OURS_INSTANTIATE)
        .args([
            "--eval",
            "-E",
            &format!("builtins.fetchurl \"{base}/file.txt?x\""),
        ])
        .current_dir(dir)
        .env_remove("NIX_SSL_CERT_FILE")
        .env_remove("SSL_CERT_FILE")
        .output()
        .expect("run nix-instantiate");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        first_line(&o.stderr).starts_with(&format!(
            "error: unable to download '{base}/file.txt?x': SSL peer certificate"
        )),
        "{}",
        show(&o)
    );
}
