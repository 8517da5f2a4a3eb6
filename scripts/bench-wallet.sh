#!/usr/bin/env bash
# Light-wallet benchmark in one run: each wallet operation (a new BIP-84 receive address, an
# EIP-1559 signature, a one-input P2WPKH signature) three ways, all driven by
# `shardhub-bench wallet` with the same inputs:
#
#   raw      shardhub-crypto called in-process on one thread: the per-core ceiling
#   plain    HTTP/1.1 + JSON against one shardhub shard
#   secure   the same requests as SM4-GCM records of the SM2 secure channel
#
# Prints ops/s, p99 latency, CPU microseconds per op (the server's for plain and secure, the
# bench's own for raw), the per-core rate 1e6 / (CPU us per op), and that rate as a fraction
# of raw's: how much of a core's crypto ceiling survives HTTP, JSON, the shard and the channel.
#
#   scripts/bench-wallet.sh [SECONDS_PER_RUN]      (default 4; 9 runs)
#
# BENCH_CONNECTIONS (default 4) sets the connections per HTTP run, each with one request in
# flight. The server runs one shard, unpinned: on a 2-core host the client and the server
# share the cores, which is why the CPU-per-op figures, not ops/s, are the ones to compare.
# The keystore gets a cheap KDF (1 MiB, 1 pass), which only shortens start-up. Loopback only,
# free ports, a temporary directory for config, passphrase, data and log; the server is
# stopped at the end. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-4}
conns=${BENCH_CONNECTIONS:-4}
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p shardhub -p shardhub-bench
B=$target_dir/release/shardhub-bench
out=$(mktemp -d)
results="$out/results.jsonl"
errors="$out/errors.log"
: >"$results"
: >"$errors"
pids=()
status=0
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$out/data"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { # port pid: until GET /readyz answers 200, failing early if the server died
  for _ in $(seq 150); do
    python3 - "$1" 2>/dev/null <<'PY' && return 0
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1).read()
PY
    kill -0 "$2" 2>/dev/null || { echo "shardhub exited; its log:"; tail -20 "$out/shardhub.log"; exit 1; }
    sleep 0.1
  done
  echo "shardhub on port $1 is not ready after 15 s; see $out/shardhub.log"; exit 1
}

# --- the server: one shard, the wallet enabled -------------------------------------------
umask 077
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$out/passphrase"
cat >"$out/shardhub.toml" <<EOF
[server]
pin_cpus = false

[wallet]
passphrase_file = "$out/passphrase"
kdf_memory_kib = 1024
kdf_iterations = 1
EOF
port=$(free_port)
"$target_dir/release/shardhub" serve --config "$out/shardhub.toml" --shards 1 --data-dir "$out/data" \
  --resp 127.0.0.1:0 --mqtt 127.0.0.1:0 --http 127.0.0.1:"$port" >"$out/shardhub.log" 2>&1 &
pids+=($!)
server_pid=${pids[-1]}
wait_ready "$port" "$server_pid"

# --- the runs ------------------------------------------------------------------------------
for op in address sign-eth sign-btc; do
  for transport in raw plain secure; do
    flags=(--op "$op" --transport "$transport" --duration "$secs" --json)
    [[ $transport != raw ]] && flags+=(--addr 127.0.0.1:"$port" --connections "$conns" --server-pid "$server_pid")
    echo "wallet $op over $transport, $secs s" >&2
    if ! $B wallet "${flags[@]}" >>"$results" 2>>"$errors"; then
      status=1
      echo "FAILED: $op/$transport: $(tail -1 "$errors")" | tee -a "$errors.failed" >&2
    fi
  done
done

python3 - "$results" "$conns" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
raw = {r["op"]: r for r in rows if r["transport"] == "raw"}
print(f"one shard, {sys.argv[2]} connections per HTTP run, one request in flight each; "
      "CPU us/op is the server's (plain, secure) or the bench's own (raw)")
print(f"{'op':<10}{'transport':<11}{'ops/s':>9}{'p99 ms':>9}{'CPU us/op':>11}{'per-core/s':>12}{'vs raw':>8}")
for r in rows:
    base = raw.get(r["op"])
    rate = r["per_core_ops_per_s"]
    ratio = f"{rate / base['per_core_ops_per_s']:.2f}" if base and rate and base["per_core_ops_per_s"] else "-"
    cpu = f"{r['cpu_us_per_op']:.1f}" if r["cpu_us_per_op"] is not None else "-"
    per_core = f"{rate:.0f}" if rate else "-"
    print(f"{r['op']:<10}{r['transport']:<11}{r['ops_per_s']:>9.0f}{r['p99_us'] / 1000:>9.2f}{cpu:>11}{per_core:>12}{ratio:>8}")
PY
if [[ -s $errors.failed ]]; then
  echo "failed runs:"; cat "$errors.failed"
fi
echo "raw results: $results (server log: $out/shardhub.log)"
exit "$status"
