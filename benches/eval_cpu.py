#!/usr/bin/env python3
"""CPU time (user + system) and peak RSS of `nix-instantiate --eval --strict FILE`
for oxnix and C++ Nix, alternating, the minimum of N runs each.

On a busy machine wall time says more about the neighbours than about the
evaluator; CPU time of the process itself is steadier. Both outputs must be
identical (exit 1 otherwise).

usage: benches/eval_cpu.py [--runs N] [--ours BIN] [--ref BIN] FILE.nix|DIR ...
"""
import argparse, math, os, sys, time


def run(cmd):
    t0 = time.perf_counter()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    os.close(w)
    out = b''
    while chunk := os.read(r, 1 << 16):
        out += chunk
    os.close(r)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    return ru.ru_utime + ru.ru_stime, wall, ru.ru_maxrss // 1024, out, os.waitstatus_to_exitcode(status)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--ours', default='target/release/nix-instantiate')
    ap.add_argument('--ref', default='nix-instantiate')
    ap.add_argument('paths', nargs='+')
    a = ap.parse_args()
    files = []
    for p in a.paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith('.nix'))
        else:
            files.append(p)
    print(f'{"file":16} {"ours cpu s":>10} {"C++ cpu s":>10} {"ratio":>6} {"ours MiB":>9} {"C++ MiB":>8}')
    ratios = []
    for f in files:
        best = {}
        for _ in range(a.runs):
            for who, b in (('ours', a.ours), ('ref', a.ref)):
                cpu, wall, rss, out, rc = run([b, '--eval', '--strict', f])
                if rc != 0:
                    sys.exit(f'{f}: {who} exited {rc}')
                prev = best.get(who)
                if prev and prev[3] != out:
                    sys.exit(f'{f}: {who} printed different values across runs')
                best[who] = (min(cpu, prev[0]) if prev else cpu, 0, max(rss, prev[2]) if prev else rss, out)
        if best['ours'][3].strip() != best['ref'][3].strip():
            sys.exit(f'{f}: outputs differ')
        ratio = best['ours'][0] / best['ref'][0]
        ratios.append(ratio)
        print(f'{os.path.basename(f):16} {best["ours"][0]:10.3f} {best["ref"][0]:10.3f} {ratio:6.2f} '
              f'{best["ours"][2]:9} {best["ref"][2]:8}')
    print(f'geomean CPU-time ratio ours/C++: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f} over {len(ratios)} files')


main()
