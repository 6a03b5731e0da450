#!/usr/bin/env python3
"""Side-by-side benchmark of oxnix against C++ Nix on one directory tree.

usage: benches/compare.py [--runs N] [--bin DIR] [--oracle DIR] [TREE]

TREE defaults to the active Rust toolchain (a 1-2 GB tree of large shared
libraries and many small files). The page cache is warmed first; then each
command runs N times, ours and C++ Nix's alternating, and the table gives
median wall time, peak RSS, and the ratio C++/ours (> 1: we are faster).
Only ratios from the same run should be compared.
"""
import argparse, os, statistics, subprocess, sys, time

def toolchain_dir():
    try:
        sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True).stdout.strip()
        return sysroot or "/usr"
    except OSError:
        return "/usr"

def run(argv):
    """Wall seconds and peak RSS (KiB) of one run; output discarded."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        p = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], stdout=null, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"{argv[0]} failed: {p.stderr}")
    return wall, int(p.stderr.strip().splitlines()[-1])

def nar_size(oracle, tree):
    p = subprocess.Popen([f"{oracle}/nix-store", "--dump", tree], stdout=subprocess.PIPE)
    n = 0
    while chunk := p.stdout.read(1 << 20):
        n += len(chunk)
    p.wait()
    return n

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin", default="target/release")
    ap.add_argument("--oracle", default="/usr/bin")
    ap.add_argument("tree", nargs="?", default=toolchain_dir())
    a = ap.parse_args()

    size = nar_size(a.oracle, a.tree)
    files = sum(len(f) for _, _, f in os.walk(a.tree))
    print(f"tree: {a.tree} ({size / 1e9:.2f} GB as NAR, {files} files), {a.runs} runs each, median\n")

    cases = [("nix-store --dump > /dev/null", ["nix-store", "--dump", a.tree])]
    for algo in ["sha256", "md5", "sha1", "sha512"]:
        cases.append((f"nix-hash --type {algo}", ["nix-hash", "--type", algo, a.tree]))

    print("| command | C++ Nix | oxnix | ratio (C++ / oxnix) | C++ peak RSS | oxnix peak RSS |")
    print("|---|---|---|---|---|---|")
    for label, argv in cases:
        ours_argv = [f"{a.bin}/{argv[0]}", *argv[1:]]
        theirs_argv = [f"{a.oracle}/{argv[0]}", *argv[1:]]
        run(theirs_argv)  # warm the page cache
        ours, theirs = [], []
        for _ in range(a.runs):
            theirs.append(run(theirs_argv))
            ours.append(run(ours_argv))
        mo = statistics.median(w for w, _ in ours)
        mt = statistics.median(w for w, _ in theirs)
        ro = max(r for _, r in ours)
        rt = max(r for _, r in theirs)
        print(f"| `{label}` | {mt:.2f} s ({size / mt / 1e9:.2f} GB/s) | {mo:.2f} s ({size / mo / 1e9:.2f} GB/s) "
              f"| {mt / mo:.2f}× | {rt / 1024:.0f} MiB | {ro / 1024:.0f} MiB |")

if __name__ == "__main__":
    main()
