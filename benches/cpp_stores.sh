#!/bin/bash
# Side by side on C++ Nix's own stores: instantiate the graph of 10,000
# derivations (benches/graph10k.nix) into a fresh C++ local store (a
# chroot store, local?root=DIR) and through a fresh nix-daemon (on a
# socket of its own, serving a chroot store), with C++ Nix 2.8's
# nix-instantiate and with ours, RUNS times each, alternating; prints the
# medians and the ratios C++/ours. Every run's store is checked with C++
# Nix's `nix-store --verify --check-contents`.
# Usage: benches/cpp_stores.sh [RUNS] [OXNIX_BIN_DIR]
set -euo pipefail
runs=${1:-3}
bin=${2:-target/release}
ours="$bin/nix-instantiate"
expr=$(dirname "$0")/graph10k.nix
work=$(mktemp -d)
daemon_pid=
cleanup() { [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
unset NIX_REMOTE OXNIX_STORE OXNIX_STORE_DIR
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

start_daemon() { # $1: store root; sets daemon_pid and socket
  socket="$work/daemon.sock"; rm -f "$socket"
  NIX_DAEMON_SOCKET_PATH="$socket" nix-daemon --store "local?root=$1" >/dev/null 2>&1 &
  daemon_pid=$!
  for _ in $(seq 200); do [ -S "$socket" ] && return; sleep 0.05; done
  echo "nix-daemon did not start" >&2; exit 1
}
stop_daemon() { kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=; }

timed() { # command...; prints seconds
  local s e; s=$(now); "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; e=$(now)
  echo "$e - $s" | bc
}
verify() { nix-store --store "local?root=$1" --verify --check-contents >/dev/null 2>&1 || { echo "verify failed: $1" >&2; exit 1; }; }

declare -a cl ol cd od
for i in $(seq "$runs"); do
  rm -rf "$work"/s*
  cl+=("$(timed nix-instantiate --store "local?root=$work/s1" "$expr")"); verify "$work/s1"
  ol+=("$(timed "$ours" --store "local?root=$work/s2" "$expr")"); verify "$work/s2"
  nix-store --store "local?root=$work/s3" --init; start_daemon "$work/s3"
  cd+=("$(timed nix-instantiate --store "unix://$socket" "$expr")"); stop_daemon; verify "$work/s3"
  nix-store --store "local?root=$work/s4" --init; start_daemon "$work/s4"
  od+=("$(timed "$ours" --store "unix://$socket" "$expr")"); stop_daemon; verify "$work/s4"
done
m1=$(median "${cl[@]}"); m2=$(median "${ol[@]}"); m3=$(median "${cd[@]}"); m4=$(median "${od[@]}")
echo "| store | C++ Nix 2.8 | oxnix | ratio (C++ / oxnix) |"
echo "|---|---|---|---|"
echo "| local (chroot) | ${m1} s | ${m2} s | $(echo "scale=2; $m1 / $m2" | bc) |"
echo "| daemon | ${m3} s | ${m4} s | $(echo "scale=2; $m3 / $m4" | bc) |"
