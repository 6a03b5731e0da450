//! Derivations against C++ Nix: for every expression of a corpus, both
//! `nix-instantiate`s write the derivation closure into a throwaway store
//! (C++: a `local?root=` chroot store; ours: a sled store) and must print the
//! same `.drv` path, evaluate the same `outPath`s, and write `.drv` files
//! with identical bytes; `nix-store -q --outputs` and `--print-env` on the
//! `.drv` print the same.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use super::{oracle, OURS_INSTANTIATE, OURS_STORE};
use oxnix::hash::{Hash, HashAlgo, HashFormat};

const BASE: &str = r#"name = "t"; system = "x86_64-linux"; builder = "/bin/sh";"#;

/// The corpus: expressions evaluating to a derivation, in a directory with
/// `src/` (a small tree) and `file.txt`.
fn corpus() -> Vec<String> {
    let mut v = Vec::new();
    let d = |attrs: &str| format!("derivation {{ {BASE} {attrs} }}");
    // Plain attributes of every type.
    v.push(d(""));
    v.push(d(r#"args = [ "-c" "echo hi" 1 true ];"#));
    v.push(d(
        r#"a = 1; b = true; c = false; e = null; f = [ "x" 2 [ "y" ] ]; g = 1.5;"#,
    ));
    v.push(d(r#"__ignoreNulls = true; e = null; f = "kept";"#));
    v.push(d(
        r#"weird = "quote\" backslash\\ newline\n tab\t dollar$";"#,
    ));
    v.push(
        r#"derivation { name = "with-dash-1.0"; system = "aarch64-linux"; builder = "/x"; }"#
            .into(),
    );
    // Multiple outputs.
    v.push(d(r#"outputs = [ "out" "dev" ];"#));
    v.push(d(r#"outputs = [ "bin" "out" "lib" ];"#));
    v.push(format!(
        "(derivation {{ {BASE} outputs = [ \"out\" \"man\" ]; }}).man"
    ));
    // Fixed outputs: every algorithm, encoding and mode.
    for algo in [
        HashAlgo::Md5,
        HashAlgo::Sha1,
        HashAlgo::Sha256,
        HashAlgo::Sha512,
    ] {
        let h = Hash::of_bytes(algo, b"oxnix");
        for (fmt, with_algo) in [
            (HashFormat::Base16, true),
            (HashFormat::Nix32, true),
            (HashFormat::Base64, true),
            (HashFormat::Sri, false),
        ] {
            for mode in ["flat", "recursive"] {
                let algo_attr = if with_algo {
                    format!("outputHashAlgo = \"{}\";", algo.name())
                } else {
                    String::new()
                };
                v.push(d(&format!(
                    "outputHash = \"{}\"; {algo_attr} outputHashMode = \"{mode}\";",
                    h.encode(fmt)
                )));
            }
        }
    }
    // Structured attributes and passAsFile.
    v.push(d(
        r#"__structuredAttrs = true; a = 1; b = [ "x" { y = null; } ]; c = { d = true; };"#,
    ));
    v.push(d(
        r#"__structuredAttrs = true; outputs = [ "out" "doc" ]; s = "text";"#,
    ));
    v.push(d(r#"passAsFile = [ "big" ]; big = "lots of text";"#));
    // Dependencies through string contexts, several levels deep.
    v.push(format!(
        "let a = derivation {{ {BASE} }}; b = derivation {{ name = \"b\"; system = \"x\"; builder = \"${{a}}/bin/sh\"; }}; \
         c = derivation {{ name = \"c\"; system = \"x\"; builder = \"/b\"; deps = [ b a ]; }}; \
         in derivation {{ name = \"d\"; system = \"x\"; builder = \"/b\"; c = c; cdev = \"${{c.drvPath}}\"; }}"
    ));
    v.push(format!(
        "let a = derivation {{ {BASE} outputs = [ \"out\" \"lib\" ]; }}; in derivation {{ name = \"u\"; system = \"x\"; builder = \"/b\"; l = a.lib; o = a.out; }}"
    ));
    v.push(format!(
        "let a = derivation {{ {BASE} }}; in derivation {{ name = \"deep\"; system = \"x\"; builder = \"/b\"; p = a.drvPath; }}"
    ));
    v.push(format!(
        "let a = derivation {{ {BASE} }}; in derivation {{ name = \"nodep\"; system = \"x\"; builder = \"/b\"; p = builtins.unsafeDiscardOutputDependency a.drvPath; }}"
    ));
    v.push(format!(
        "let a = derivation {{ {BASE} }}; in derivation {{ name = \"noctx\"; system = \"x\"; builder = \"/b\"; p = builtins.unsafeDiscardStringContext a.outPath; }}"
    ));
    v.push(format!(
        "let fo = derivation {{ {BASE} outputHash = \"{}\"; outputHashAlgo = \"sha256\"; }}; in derivation {{ name = \"on-fo\"; system = \"x\"; builder = \"/b\"; s = fo; }}",
        Hash::of_bytes(HashAlgo::Sha256, b"x").encode(HashFormat::Nix32)
    ));
    let mut chain = format!("derivation {{ {BASE} }}");
    for i in 0..6 {
        chain = format!(
            "derivation {{ name = \"chain{i}\"; system = \"x\"; builder = \"/b\"; prev = {chain}; }}"
        );
    }
    v.push(chain);
    // Paths and files in the store.
    v.push(d("src = ./src;"));
    v.push(d("f = ./file.txt; s2 = \"${./src}/sub\";"));
    v.push(d(r#"t = builtins.toFile "hello.txt" "hello";"#));
    v.push(d(
        r#"t = let a = builtins.toFile "a" "A"; in builtins.toFile "b" "refers to ${a}";"#,
    ));
    v.push(d(r#"args = [ ./file.txt "${./src}" ];"#));
    v.push(d(
        r#"s = builtins.filterSource (p: t: builtins.baseNameOf p != "b.sh") ./src;"#,
    ));
    v.push(d(
        r#"s = builtins.path { path = ./src; name = "renamed"; filter = p: t: t != "symlink"; };"#,
    ));
    v.push(d(
        r#"s = builtins.path { path = ./file.txt; recursive = false; };"#,
    ));
    v.push(d(r#"s = "${builtins.path { path = ./src; }}/sub"; t = builtins.filterSource (p: t: t == "directory") ./src;"#));
    // Placeholders.
    v.push(d(r#"outputs = [ "out" "dev" ]; p = builtins.placeholder "dev"; q = "${builtins.placeholder "out"}/bin";"#));
    // <nix/fetchurl.nix>.
    v.push(format!(
        "import <nix/fetchurl.nix> {{ url = \"https://example.org/x-1.0.tar.gz\"; sha256 = \"{}\"; }}",
        Hash::of_bytes(HashAlgo::Sha256, b"x").encode(HashFormat::Nix32)
    ));
    v.push(format!(
        "import <nix/fetchurl.nix> {{ url = \"https://example.org/y\"; hash = \"{}\"; unpack = true; name = \"y-src\"; }}",
        Hash::of_bytes(HashAlgo::Sha512, b"y").encode(HashFormat::Sri)
    ));
    v.push(format!(
        "let f = import <nix/fetchurl.nix> {{ url = \"https://example.org/z\"; md5 = \"{}\"; executable = true; }}; in derivation {{ {BASE} src = f; }}",
        Hash::of_bytes(HashAlgo::Md5, b"z").encode(HashFormat::Base16)
    ));
    v
}

fn make_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    std::fs::create_dir_all(p.join("src/sub")).expect("mkdir");
    std::fs::write(p.join("src/a.c"), "int main() { return 0; }\n").expect("write");
    std::fs::write(p.join("src/sub/b.sh"), "#!/bin/sh\necho b\n").expect("write");
    std::os::unix::fs::symlink("a.c", p.join("src/link")).expect("symlink");
    std::fs::write(p.join("file.txt"), "some file\n").expect("write");
    dir
}

fn stdout_of(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn derivations_are_identical() {
    let Some(theirs) = oracle("nix-instantiate") else {
        return;
    };
    let dir = make_dir();
    let cwd = dir.path();
    let root = cwd.join("cpp-root");
    let cpp_store = format!("local?root={}", root.display());
    let our_store = format!("sled://{}", cwd.join("our-store").display());
    let cases = corpus();
    for expr in &cases {
        let c = stdout_of(
            Command::new(&theirs)
                .current_dir(cwd)
                .args(["--store", &cpp_store, "--expr", expr]),
            &format!("C++ nix-instantiate on {expr}"),
        );
        let o = stdout_of(
            Command::new(OURS_INSTANTIATE)
                .current_dir(cwd)
                .env("OXNIX_STORE", &our_store)
                .args(["--expr", expr]),
            &format!("our nix-instantiate on {expr}"),
        );
        assert_eq!(o, c, "drv path of {expr}");
        let out_expr = format!(
            "let d = {expr}; in map (o: d.${{o}}.outPath) (d.drvAttrs.outputs or [ \"out\" ])"
        );
        let out_c = stdout_of(
            Command::new(&theirs).current_dir(cwd).args([
                "--store", &cpp_store, "--eval", "--strict", "--expr", &out_expr,
            ]),
            "C++ outPaths",
        );
        let out_o = stdout_of(
            Command::new(OURS_INSTANTIATE)
                .current_dir(cwd)
                .args(["--eval", "--strict", "--expr", &out_expr]),
            "our outPaths",
        );
        assert_eq!(out_o, out_c, "output paths of {expr}");
        // The .drv bytes: C++'s file in its chroot store, ours from our store.
        let drv = c.trim().split('!').next().unwrap_or_default().to_owned();
        let cpp_file = root.join(drv.trim_start_matches('/'));
        let cpp_nar = Command::new(OURS_STORE)
            .args([OsStr::new("--dump"), cpp_file.as_os_str()])
            .output()
            .expect("dump C++ drv");
        let our_nar = Command::new(OURS_STORE)
            .env("OXNIX_STORE", &our_store)
            .args(["--dump", &drv])
            .output()
            .expect("dump our drv");
        assert!(cpp_nar.status.success() && our_nar.status.success());
        assert!(
            cpp_nar.stdout == our_nar.stdout,
            ".drv bytes differ for {expr}: {}",
            show_drv(&cpp_file)
        );
        // Queries on the written .drv: outputs and environment.
        for q in [&["--query", "--outputs"][..], &["--print-env"]] {
            let c = stdout_of(
                Command::new(theirs.with_file_name("nix-store"))
                    .args(["--store", &cpp_store])
                    .args(q)
                    .arg(&drv),
                "C++ nix-store query",
            );
            let o = stdout_of(
                Command::new(OURS_STORE)
                    .env("OXNIX_STORE", &our_store)
                    .args(q)
                    .arg(&drv),
                "our nix-store query",
            );
            assert_eq!(o, c, "nix-store {q:?} of {expr}");
        }
    }
    eprintln!(
        "compat: {} derivation expressions identical (drv path, outPaths, .drv bytes)",
        cases.len()
    );
}

fn show_drv(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}
