#!/usr/bin/env bash
# Real-world evaluation benchmark: `nix-instantiate --eval --strict FILE` with
# oxnix and with C++ Nix, alternating (ours, C++, ours, C++, ...), RUNS times
# each (default 3). Checks that both print byte-identical output and exit 0,
# then prints per file the median wall time, the peak RSS and the ratio
# ours/C++ (below 1.0: oxnix is faster / smaller), and the geometric mean.
#
# usage: benches/realworld/run.sh [RUNS] [FILE.nix ...]
#   OXNIX_NIX_INSTANTIATE  oxnix's binary (default: target/release/nix-instantiate)
#   CPP_NIX_INSTANTIATE    C++ Nix's binary (default: nix-instantiate)
#   WARMUP                 untimed runs of each binary per file first (default: 0)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-3}
shift || true
ours=${OXNIX_NIX_INSTANTIATE:-$repo/target/release/nix-instantiate}
cpp=${CPP_NIX_INSTANTIATE:-nix-instantiate}
if [ $# -eq 0 ]; then
  set -- "$here/modules.nix" "$here/packages.nix"
fi
[ -x "$ours" ] || { echo "run.sh: no oxnix binary at $ours (build with cargo build --release, or set OXNIX_NIX_INSTANTIATE)" >&2; exit 2; }
command -v "$cpp" >/dev/null || { echo "run.sh: C++ Nix's $cpp not found (set CPP_NIX_INSTANTIATE)" >&2; exit 2; }

exec python3 - "$ours" "$cpp" "$runs" "${WARMUP:-0}" "$@" <<'PY'
import math, os, statistics, sys, tempfile, time

ours, cpp, runs, warmup, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
tmp = tempfile.mkdtemp(prefix='realworld-bench.')

def run(binary, f, tag):
    """Run `binary --eval --strict f`; return (wall s, peak RSS KiB, stdout bytes, stderr bytes, exit code)."""
    out, err = os.path.join(tmp, tag + '.out'), os.path.join(tmp, tag + '.err')
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
            os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
            os.execvp(binary, [binary, '--eval', '--strict', f])
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    t = time.perf_counter() - t0
    return t, ru.ru_maxrss, open(out, 'rb').read(), open(err, 'rb').read(), os.waitstatus_to_exitcode(status)

def show(b):
    s = b.decode(errors='replace').strip()
    return s if len(s) < 400 else s[:400] + '...'

print(f'ours: {ours}\nC++:  {cpp}\n{runs} runs each, alternating; median wall time, max peak RSS\n')
print(f'{"file":14} {"ours s":>8} {"C++ s":>8} {"ours/C++":>8} {"ours MiB":>9} {"C++ MiB":>8}')
ratios, failed = [], False
for f in files:
    name = os.path.basename(f)
    to, tc, mo, mc = [], [], [], []
    ok = True
    for i in range(warmup + runs):
        a = run(ours, f, 'ours')
        b = run(cpp, f, 'cpp')
        problem = None
        if b[4] != 0:
            problem = f'C++ Nix failed (exit {b[4]}): {show(b[3])}'
        elif a[4] != 0:
            problem = f'oxnix failed (exit {a[4]}): {show(a[3])}'
        elif a[2] != b[2]:
            problem = f'outputs differ:\n  ours: {show(a[2])}\n  C++:  {show(b[2])}'
        if problem:
            print(f'{name:14} MISMATCH: {problem}')
            ok, failed = False, True
            break
        if i >= warmup:
            to.append(a[0]); tc.append(b[0]); mo.append(a[1]); mc.append(b[1])
    if not ok:
        continue
    r = statistics.median(to) / statistics.median(tc)
    ratios.append(r)
    print(f'{name:14} {statistics.median(to):8.2f} {statistics.median(tc):8.2f} {r:8.2f} '
          f'{max(mo) / 1024:9.0f} {max(mc) / 1024:8.0f}', flush=True)

if ratios:
    g = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f'\ngeomean time ratio ours/C++: {g:.2f} over {len(ratios)} files')
for n in os.listdir(tmp):
    os.unlink(os.path.join(tmp, n))
os.rmdir(tmp)
sys.exit(1 if failed else 0)
PY
