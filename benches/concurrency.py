#!/usr/bin/env python3
"""Many processes on one store, side by side with C++ Nix 2.8, in one run.

usage: benches/concurrency.py [--bin DIR] [--writers N] [--instantiations N]
                              [--readers N] [--big-mb N] [--drvs N]

Each setup gets a fresh store and runs three phases; every figure is the
wall time of the whole phase (all processes started at once), and the
number of processes that succeeded:

- writers:        N `nix-store --add` of different trees (200 small files
                  and a 1 MiB file each) into the same store
- instantiations: N `nix-instantiate` of different graphs of --drvs
                  derivations (each depending on the two before it)
- readers:        N `nix-store -q --hash` of a valid path, started while one
                  `nix-store --add` of a --big-mb tree runs; the median and
                  largest reader latency, and the add's own time

Setups: C++ Nix 2.8 (a chroot store, `--store local?root=DIR`: SQLite and
its locks), oxnix on a local sled store (processes take turns on the
store's lock), oxnix with `oxnix store daemon` serving the store directory
(commands hand their work to it through `daemon.sock`), and oxnix with an
`oxnix store mount` of the store open (the same hand-off; skipped without
/dev/fuse). Afterwards each store is checked with
`nix-store --verify --check-contents`; a failed check or a failed command
is reported, not hidden.
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time


def make_tree(path, i, small=200):
    os.makedirs(os.path.join(path, "sub"), exist_ok=True)
    for j in range(small):
        with open(os.path.join(path, "sub", f"f{j}"), "w") as f:
            f.write(f"tree {i} file {j}\n" * 200)
    with open(os.path.join(path, "big"), "wb") as f:
        f.write(bytes([i % 256]) * (1 << 20))


def make_big(path, mb):
    os.makedirs(path, exist_ok=True)
    chunk = os.urandom(1 << 20)
    for j in range(mb // 16 or 1):
        with open(os.path.join(path, f"part{j}"), "wb") as f:
            for _ in range(16):
                f.write(chunk)
                chunk = chunk[1:] + chunk[:1]


def graph(path, i, n):
    with open(path, "w") as f:
        f.write(f"""let
  mk = k: deps: derivation {{
    name = "bench-{i}-${{toString k}}";
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "echo ${{toString k}} > $out" ];
    inherit deps;
  }};
  go = k: a: b: if k == {n} then [ ] else let d = mk k [ a b ]; in [ d ] ++ go (k + 1) b d;
in go 0 "" ""
""")


class Setup:
    def __init__(self, name, env, store_args, cleanup=None):
        self.name, self.env, self.store_args, self.cleanup = name, env, store_args, cleanup


def run_all(cmds, env):
    start = time.perf_counter()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for c in cmds]
    errors = []
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            errors.append(err.decode(errors="replace").strip().splitlines()[-1:])
    return time.perf_counter() - start, len(cmds) - len(errors), errors


def phase_readers(setup, bins, big, probe, n):
    env = setup.env
    add = subprocess.Popen([bins["nix-store"], *setup.store_args, "--add", big], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    start = time.perf_counter()
    time.sleep(0.2)
    lat, ok, errors = [], 0, []
    procs = []
    for _ in range(n):
        t = time.perf_counter()
        procs.append((t, subprocess.Popen([bins["nix-store"], *setup.store_args, "-q", "--hash", probe],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
    for t, p in procs:
        _, err = p.communicate()
        lat.append(time.perf_counter() - t)
        if p.returncode == 0:
            ok += 1
        else:
            errors.append(err.decode(errors="replace").strip().splitlines()[-1:])
    _, err = add.communicate()
    add_time = time.perf_counter() - start
    if add.returncode != 0:
        errors.append(["big add: " + err.decode(errors="replace").strip()])
    return statistics.median(lat), max(lat), ok, add_time, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release")
    ap.add_argument("--writers", type=int, default=32)
    ap.add_argument("--instantiations", type=int, default=8)
    ap.add_argument("--readers", type=int, default=50)
    ap.add_argument("--big-mb", type=int, default=512)
    ap.add_argument("--drvs", type=int, default=1000)
    a = ap.parse_args()
    ours = {c: os.path.abspath(os.path.join(a.bin, c)) for c in ("nix-store", "nix-instantiate", "oxnix")}
    cpp = {c: shutil.which(c) for c in ("nix-store", "nix-instantiate")}
    work = tempfile.mkdtemp(prefix="oxnix-concurrency-")
    try:
        trees = [os.path.join(work, "trees", f"t{i}") for i in range(a.writers)]
        for i, t in enumerate(trees):
            make_tree(t, i)
        graphs = [os.path.join(work, f"g{i}.nix") for i in range(a.instantiations)]
        for i, g in enumerate(graphs):
            graph(g, i, a.drvs)
        big = os.path.join(work, "big")
        make_big(big, a.big_mb)
        probe_tree = os.path.join(work, "probe")
        make_tree(probe_tree, 999, small=3)

        base = dict(os.environ)
        for k in ("OXNIX_STORE", "NIX_REMOTE", "NIX_STORE_DIR"):
            base.pop(k, None)
        setups = []
        if cpp["nix-store"]:
            setups.append((Setup("C++ Nix 2.8 (local, chroot)", base,
                                 ["--store", f"local?root={work}/cpp"]), cpp))
        env = dict(base, OXNIX_STORE_DIR=f"{work}/ours")
        setups.append((Setup("oxnix (sled, lock)", env, []), ours))
        denv = dict(base, OXNIX_STORE_DIR=f"{work}/ours-daemon")
        setups.append((Setup("oxnix (through its daemon)", denv, []), ours))
        menv = dict(base, OXNIX_STORE_DIR=f"{work}/ours-mount")
        if os.path.exists("/dev/fuse") and shutil.which("fusermount3"):
            setups.append((Setup("oxnix (FUSE mount open)", menv, []), ours))

        rows = []
        for setup, bins in setups:
            server = None
            if "daemon" in setup.name or "mount" in setup.name:
                # Create the store, then let a server hold it.
                subprocess.run([bins["nix-store"], "--init"], env=setup.env, check=True)
                if "daemon" in setup.name:
                    sock = f"{work}/daemon.sock"
                    server = subprocess.Popen([ours["oxnix"], "store", "daemon", "--listen",
                                               f"grpc+unix://{sock}"], env=setup.env,
                                              stderr=subprocess.DEVNULL)
                else:
                    mnt = f"{work}/mnt"
                    os.makedirs(mnt, exist_ok=True)
                    server = subprocess.Popen([ours["oxnix"], "store", "mount", mnt], env=setup.env,
                                              stderr=subprocess.DEVNULL)
                store_dir = setup.env["OXNIX_STORE_DIR"]
                for _ in range(100):
                    if os.path.exists(os.path.join(store_dir, "daemon.sock")):
                        break
                    time.sleep(0.05)
            probe = subprocess.run([bins["nix-store"], *setup.store_args, "--add", probe_tree],
                                   env=setup.env, capture_output=True, text=True).stdout.strip()
            w = run_all([[bins["nix-store"], *setup.store_args, "--add", t] for t in trees], setup.env)
            ins = run_all([[bins["nix-instantiate"], *setup.store_args, g] for g in graphs], setup.env)
            r = phase_readers(setup, bins, big, probe, a.readers)
            v = subprocess.run([bins["nix-store"], *setup.store_args, "--verify", "--check-contents"],
                               env=setup.env, capture_output=True, text=True)
            if server:
                server.terminate()
                server.wait()
            if v.returncode != 0:
                print(f"  {setup.name}: verify: {v.stderr.strip()[-500:]}", file=sys.stderr)
            rows.append((setup.name, w, ins, r, v.returncode == 0))
            for e in w[2] + ins[2] + r[4]:
                print(f"  {setup.name}: failure: {e}", file=sys.stderr)

        print(f"writers={a.writers} instantiations={a.instantiations}x{a.drvs} drvs "
              f"readers={a.readers} big add={a.big_mb} MiB")
        print("| setup | writers: s (ok) | instantiations: s (ok) | readers during add: "
              "median / max s (ok) | big add s | verify |")
        print("|---|---|---|---|---|---|")
        for name, w, ins, r, ok in rows:
            print(f"| {name} | {w[0]:.2f} ({w[1]}/{a.writers}) | {ins[0]:.2f} ({ins[1]}/{a.instantiations}) "
                  f"| {r[0]:.2f} / {r[1]:.2f} ({r[2]}/{a.readers}) | {r[3]:.2f} | "
                  f"{'clean' if ok else 'FAILED'} |")
    finally:
        subprocess.run(["fusermount3", "-u", f"{work}/mnt"], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
