#!/usr/bin/env python3
"""Start-up time side by side: `nix-instantiate --eval -E 1` (and
`nix-hash --type sha256` of a one-byte file, `nix-store --version`) run
with oxnix and with C++ Nix alternately, RUNS times each; prints the
median wall time of each and the ratio ours / C++ (below 1.0: ours starts
faster).

usage: benches/startup.py [--runs N] [--ours DIR] [--ref DIR]
  --ours  the directory of oxnix's binaries (default: target/release)
  --ref   the directory of C++ Nix's binaries (default: found on PATH)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def timed(argv):
    start = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"startup.py: {' '.join(argv)} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    return took, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--ours", default="target/release")
    ap.add_argument("--ref", default=None)
    a = ap.parse_args()

    def ref(name):
        if a.ref:
            return os.path.join(a.ref, name)
        found = shutil.which(name)
        if not found:
            sys.exit(f"startup.py: C++ Nix's {name} not found (give --ref DIR)")
        return found

    with tempfile.TemporaryDirectory() as tmp:
        one = os.path.join(tmp, "one")
        with open(one, "wb") as f:
            f.write(b"x")
        cases = [
            ("nix-instantiate --eval -E 1", "nix-instantiate", ["--eval", "-E", "1"]),
            ("nix-hash --type sha256 FILE", "nix-hash", ["--type", "sha256", one]),
            ("nix-store --version", "nix-store", ["--version"]),
        ]
        print(f"{a.runs} runs each, alternating, median wall time")
        print("| command | C++ Nix | oxnix | oxnix/C++ |")
        print("|---|---|---|---|")
        for label, name, args in cases:
            ours_bin = os.path.join(a.ours, name)
            ref_bin = ref(name)
            t_ours, t_ref = [], []
            out_ours = out_ref = None
            for _ in range(a.runs):
                t, out_ref = timed([ref_bin] + args)
                t_ref.append(t)
                t, out_ours = timed([ours_bin] + args)
                t_ours.append(t)
            if name != "nix-store" and out_ours != out_ref:
                sys.exit(f"startup.py: {label}: outputs differ: {out_ours!r} vs {out_ref!r}")
            mo, mr = statistics.median(t_ours), statistics.median(t_ref)
            print(f"| `{label}` | {mr * 1000:.1f} ms | {mo * 1000:.1f} ms | {mo / mr:.2f} |")


if __name__ == "__main__":
    main()
