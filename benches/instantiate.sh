#!/bin/bash
# Side-by-side: instantiate a graph of 10,000 derivations (benches/graph10k.nix)
# with C++ Nix (into a throwaway chroot store) and with oxnix (into a
# throwaway sled store), RUNS times each, alternating; prints the medians
# and the ratio C++/ours. Usage: benches/instantiate.sh [RUNS] [OXNIX_BIN]
set -euo pipefail
runs=${1:-5}
ours=${2:-target/release/nix-instantiate}
expr=$(dirname "$0")/graph10k.nix
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t_cpp=(); t_ours=()
for i in $(seq "$runs"); do
  rm -rf "$work/cpp" "$work/ours"
  s=$(date +%s.%N); nix-instantiate --store "local?root=$work/cpp" "$expr" >/dev/null 2>&1; e=$(date +%s.%N)
  t_cpp+=("$(echo "$e - $s" | bc)")
  s=$(date +%s.%N); OXNIX_STORE="sled://$work/ours" "$ours" "$expr" >/dev/null 2>&1; e=$(date +%s.%N)
  t_ours+=("$(echo "$e - $s" | bc)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mc=$(median "${t_cpp[@]}"); mo=$(median "${t_ours[@]}")
echo "instantiate 10k derivations: C++ ${mc}s, oxnix ${mo}s, ratio C++/oxnix $(echo "scale=2; $mc / $mo" | bc)"
