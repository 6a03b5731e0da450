//! Error messages and `--show-trace` traces of expressions whose errors
//! pass through the VM's own machinery (builtins' list loops, calls of
//! unevaluated functions, selections by constant names): each case of
//! `nix_tests/traces/cases.txt` is run with `--eval --strict`, with and
//! without `--show-trace`, and stdout, stderr and the exit code must equal
//! `nix_tests/traces/expected.txt`. The expected output is newer Nix's
//! layout, which oxnix follows (C++ Nix 2.8 prints traces differently),
//! and was recorded before the VM changes it guards, so a change of any
//! trace is noticed. `OXNIX_TRACES_UPDATE=1` rewrites the expected file.

use std::path::Path;
use std::process::Command;

const NIX_INSTANTIATE: &str = env!("CARGO_BIN_EXE_nix-instantiate");

fn run(expr: &str, show_trace: bool) -> String {
    let mut cmd = Command::new(NIX_INSTANTIATE);
    cmd.args(["--eval", "--strict"]);
    if show_trace {
        cmd.arg("--show-trace");
    }
    let out = cmd
        .arg("-E")
        .arg(expr)
        .env_remove("NIX_CONFIG")
        .env("NIX_CONF_DIR", "/nonexistent")
        .output()
        .expect("nix-instantiate runs");
    format!(
        "{}{}rc={}\n",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code().unwrap_or(-1)
    )
}

fn render(cases: &str) -> String {
    let mut all = String::new();
    for expr in cases.lines().filter(|l| !l.trim().is_empty()) {
        for show_trace in [false, true] {
            let flag = if show_trace { " --show-trace" } else { "" };
            all.push_str(&format!("=== {expr}{flag}\n"));
            all.push_str(&run(expr, show_trace));
        }
    }
    all
}

#[test]
fn traces_of_loops_calls_and_selections_stay_the_same() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("nix_tests/traces");
    let cases = std::fs::read_to_string(dir.join("cases.txt")).expect("cases");
    let got = render(&cases);
    let expected_path = dir.join("expected.txt");
    if std::env::var_os("OXNIX_TRACES_UPDATE").is_some() {
        std::fs::write(&expected_path, &got).expect("write expected");
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).expect("expected");
    if got != expected {
        let mismatch = got
            .split("=== ")
            .zip(expected.split("=== "))
            .find(|(g, e)| g != e)
            .map(|(g, e)| format!("got:\n=== {g}\nexpected:\n=== {e}"))
            .unwrap_or_else(|| "a different number of cases".into());
        panic!("traces differ from nix_tests/traces/expected.txt\n{mismatch}");
    }
}
