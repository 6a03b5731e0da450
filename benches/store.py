#!/usr/bin/env python3
"""Store benchmark: import a large tree into a fresh sled store, render it
back as a NAR, and read it through the FUSE mount, against native reads of
the original tree.

usage: benches/store.py [--bin DIR] [--runs N] [--warmup N] [TREE]

TREE defaults to the active Rust toolchain (1.3 GB, 52k files). Every figure
is for cached data (what is measured is our code, not the disk): each timed
read comes right after an untimed one of the same data, since the machine's
memory reclaim (DAMON here) pages out cold page cache within seconds, and the
FUSE and native reads alternate, after untimed rounds of both (--warmup, 2 by
default: the first FUSE reads after the imports took up to 1.7 times as long
as later ones). For each step the median of N runs is given:

- import:      nix-store --add TREE                 (NAR bytes / s)
- NAR render:  nix-store --dump STOREPATH >/dev/null (NAR bytes / s)
- native dump: nix-store --dump TREE >/dev/null      (reference for render)
- FUSE read:   every file of the mounted path read with a plain `cat`
               (find . -type f -print0 | xargs -0 cat >/dev/null; file bytes / s),
               each run on a fresh mount, so the kernel has cached nothing of it
- native read: the same on TREE
- the same pair again with tar cf - . | cat >/dev/null as the reader, a
  streaming reader whose pipe partner has to share the CPUs with the mount

Needs /dev/fuse and fusermount3 for the FUSE rows (skipped otherwise).
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time


def toolchain_dir():
    out = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True)
    return out.stdout.strip() or "/usr"


def timed(argv, **kw):
    start = time.perf_counter()
    p = subprocess.run(argv, **kw)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"{argv} failed: {p.stderr}")
    return wall, p


def tar_read(directory):
    """Seconds to read every file under `directory` with tar into a pipe
    (GNU tar does not read files when writing to /dev/null itself)."""
    start = time.perf_counter()
    tar = subprocess.Popen(["tar", "cf", "-", "-C", directory, "."], stdout=subprocess.PIPE)
    with open(os.devnull, "wb") as null:
        cat = subprocess.run(["cat"], stdin=tar.stdout, stdout=null)
    tar.stdout.close()
    if tar.wait() != 0 or cat.returncode != 0:
        sys.exit(f"tar of {directory} failed")
    return time.perf_counter() - start


def cat_read(directory):
    """Seconds to read every file under `directory` with a plain cat."""
    start = time.perf_counter()
    find = subprocess.Popen(["find", ".", "-type", "f", "-print0"], cwd=directory,
                            stdout=subprocess.PIPE)
    with open(os.devnull, "wb") as null:
        cat = subprocess.run(["xargs", "-0", "cat"], cwd=directory, stdin=find.stdout, stdout=null)
    find.stdout.close()
    if find.wait() != 0 or cat.returncode != 0:
        sys.exit(f"cat of the files under {directory} failed")
    return time.perf_counter() - start


READERS = (("`cat` of every file", cat_read), ("`tar`", tar_read))


def file_bytes(tree):
    total = 0
    for root, _dirs, files in os.walk(tree):
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def mount(oxnix, address, mnt):
    proc = subprocess.Popen([oxnix, "store", "mount", "--store", address, mnt],
                            stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        if os.listdir(mnt):
            return proc
        if proc.poll() is not None:
            print(f"FUSE mount failed: {proc.stderr.read().strip()}", file=sys.stderr)
            return None
        time.sleep(0.05)
    proc.terminate()
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2,
                    help="untimed rounds of the FUSE and native reads first")
    ap.add_argument("tree", nargs="?", default=toolchain_dir())
    a = ap.parse_args()
    nix_store = os.path.join(a.bin, "nix-store")
    oxnix = os.path.join(a.bin, "oxnix")
    tree = os.path.abspath(a.tree)
    fbytes = file_bytes(tree)
    print(f"warming the page cache on {tree} ...", file=sys.stderr)
    tar_read(tree)

    work = tempfile.mkdtemp(prefix="oxnix-bench-")
    rows = []
    try:
        imports, path, address = [], None, None
        for i in range(a.runs):
            address = f"sled://{work}/store{i}"
            wall, p = timed([nix_store, "--store", address, "--add", tree],
                            capture_output=True, text=True)
            imports.append(wall)
            path = p.stdout.strip()
            if i + 1 < a.runs:
                shutil.rmtree(f"{work}/store{i}")
        # Let the imports' writeback end before anything is timed.
        os.sync()
        time.sleep(5)
        nar = int(subprocess.run([nix_store, "--store", address, "-q", "--size", path],
                                 capture_output=True, text=True, check=True).stdout)
        rows.append(("import (`nix-store --add`)", nar, statistics.median(imports)))
        render = [nix_store, "--store", address, "--dump", path]
        dump = [nix_store, "--dump", tree]
        renders, native = [], []
        with open(os.devnull, "wb") as null:
            for _ in range(a.runs):
                for argv, times in ((render, renders), (dump, native)):
                    timed(argv, stdout=null)  # warm
                    times.append(timed(argv, stdout=null)[0])
        rows.append(("NAR render (`--dump` of the store path)", nar, statistics.median(renders)))
        rows.append(("native dump (`--dump` of the tree)", nar, statistics.median(native)))

        mnt = os.path.join(work, "mnt")
        os.mkdir(mnt)
        fuse_runs = {name: [] for name, _ in READERS}
        native_reads = {name: [] for name, _ in READERS}
        with open(os.devnull, "wb") as null:
            for run in range(a.warmup + a.runs):
                for name, read in READERS:
                    timed(render, stdout=null)  # warm the blobs
                    proc = mount(oxnix, address, mnt)
                    if proc is not None:
                        fuse = read(os.path.join(mnt, os.path.basename(path)))
                        proc.terminate()
                        proc.wait()
                        if run >= a.warmup:
                            fuse_runs[name].append(fuse)
                    read(tree)  # warm
                    native = read(tree)
                    if run >= a.warmup:
                        native_reads[name].append(native)
        for name, _ in READERS:
            if fuse_runs[name]:
                rows.append((f"FUSE read ({name} of the mounted path)", fbytes,
                             statistics.median(fuse_runs[name])))
            rows.append((f"native read ({name} of the tree)", fbytes,
                         statistics.median(native_reads[name])))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"tree: {tree} ({nar / 1e9:.2f} GB as NAR, {fbytes / 1e9:.2f} GB of files), "
          f"{a.runs} runs each, median, warm page cache")
    print()
    print("| step | time | throughput |")
    print("|---|---|---|")
    for name, size, wall in rows:
        print(f"| {name} | {wall:.2f} s | {size / wall / 1e6:.0f} MB/s |")
    for name, _ in READERS:
        if fuse_runs[name]:
            ratio = statistics.median(native_reads[name]) / statistics.median(fuse_runs[name])
            print()
            print(f"FUSE read with {name} reaches {ratio:.0%} of the native read.")


if __name__ == "__main__":
    main()
