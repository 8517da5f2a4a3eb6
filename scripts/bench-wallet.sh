#!/usr/bin/env bash
# Light-wallet benchmark in one run: each wallet operation (a new BIP-84 receive address, an
# EIP-1559 signature, a one-input P2WPKH signature) three ways, all driven by
# `shardhub-bench wallet` with the same inputs:
#
#   raw      shardhub-crypto called in-process on one thread: the per-core ceiling
#   plain    HTTP/1.1 + JSON against one shardhub shard
#   secure   the same requests as SM4-GCM records of the SM2 secure channel
#
# The HTTP loads run twice: with the client asleep between answers (`--client-wait sleep`)
# and spinning on its sockets (`spin`). On loopback the server's send pays for waking a
# sleeping client, which a client across a network never costs it (bench/src/wallet/client_wait.rs);
# `spin` is the server's own work.
#
# Prints ops/s, p99 latency, CPU microseconds per op (the server's for plain and secure, the
# bench's own for raw), the per-core rate 1e6 / (CPU us per op), and that rate as a fraction
# of raw's: how much of a core's crypto ceiling survives HTTP, JSON, the shard and the channel.
# Each cell is run ROUNDS times, the rounds interleaved, and the table shows each cell's
# median CPU per op; ratios are of medians.
#
#   scripts/bench-wallet.sh [SECONDS_PER_RUN [ROUNDS]]     (default 4 s, 3 rounds: 45 runs)
#
# BENCH_CONNECTIONS (default 4) sets the connections per HTTP run, each with one request in
# flight. The server runs one shard pinned to the host's last CPU, as `server.pin_cpus`
# pins shards in production, and the HTTP clients are confined to the other CPUs, so they
# never take the shard's core or its caches. The raw loop runs alone on the shard's CPU
# (the server idles meanwhile): the same core for the ceiling and the served rate.
# BENCH_PIN=0 leaves everything unpinned (the scheduler then moves it over the same cores).
# The CPU-per-op figures, not ops/s, are the ones to compare: ops/s is bounded by the
# client on a small host.
# The keystore gets a cheap KDF (1 MiB, 1 pass), which only shortens start-up. Loopback only,
# free ports, a temporary directory for config, passphrase, data and log; the server is
# stopped at the end. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-4}
rounds=${2:-3}
conns=${BENCH_CONNECTIONS:-4}
cpus=$(nproc)
if [[ ${BENCH_PIN:-1} != 0 && $cpus -ge 2 ]]; then
  server_cpu=$((cpus - 1))
  pin_server=(taskset -c "$server_cpu")
  pin_client=(taskset -c "0-$((server_cpu - 1))")
  pin_raw=(taskset -c "$server_cpu")
  pin_cpus=true
  pin_note="shard pinned to CPU $server_cpu, HTTP clients on CPUs 0-$((server_cpu - 1)), raw on CPU $server_cpu"
else
  pin_server=()
  pin_client=()
  pin_raw=()
  pin_cpus=false
  pin_note="unpinned"
fi
source scripts/lib/bench-env.sh
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
# pin_cpus stays on: under taskset the one shard pins to the one CPU it is allowed.
cat >"$out/shardhub.toml" <<EOF
[server]
pin_cpus = $pin_cpus

[wallet]
passphrase_file = "$out/passphrase"
kdf_memory_kib = 1024
kdf_iterations = 1
EOF
port=$(free_port)
"${pin_server[@]}" "$SHARDHUB" serve --config "$out/shardhub.toml" --shards 1 --data-dir "$out/data" \
  --resp 127.0.0.1:0 --mqtt 127.0.0.1:0 --http 127.0.0.1:"$port" >"$out/shardhub.log" 2>&1 &
pids+=($!)
server_pid=${pids[-1]}
wait_ready "$port" "$server_pid"

# --- the runs ------------------------------------------------------------------------------
for round in $(seq "$rounds"); do
  for op in address sign-eth sign-btc; do
    for cell in raw plain:sleep plain:spin secure:sleep secure:spin; do
      transport=${cell%%:*}
      flags=(--op "$op" --transport "$transport" --duration "$secs" --json)
      pin=("${pin_raw[@]}")
      if [[ $transport != raw ]]; then
        pin=("${pin_client[@]}")
        flags+=(--addr 127.0.0.1:"$port" --connections "$conns" --server-pid "$server_pid" --client-wait "${cell#*:}")
      fi
      echo "round $round/$rounds: wallet $op over $cell, $secs s" >&2
      if ! "${pin[@]}" "$B" wallet "${flags[@]}" >>"$results" 2>>"$errors"; then
        status=1
        echo "FAILED: $op/$cell: $(tail -1 "$errors")" | tee -a "$errors.failed" >&2
      fi
    done
  done
done

python3 - "$results" "$conns" "$rounds" "$pin_note" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cells = {}
for r in rows:
    cells.setdefault((r["op"], r["transport"], r["client_wait"] or "-"), []).append(r)
def median(rs, key):
    values = [r[key] for r in rs if r[key] is not None]
    return statistics.median(values) if values else None
print(f"one shard ({sys.argv[4]}), {sys.argv[2]} connections per HTTP run, one request in flight each; medians of "
      f"{sys.argv[3]} rounds; CPU us/op is the server's (plain, secure) or the bench's own (raw)")
print(f"{'op':<10}{'transport':<11}{'client':<8}{'ops/s':>9}{'p99 ms':>9}{'CPU us/op':>11}"
      f"{'min-max':>13}{'per-core/s':>12}{'vs raw':>8}")
for (op, transport, wait), rs in cells.items():
    cpu = median(rs, "cpu_us_per_op")
    base = median(cells.get((op, "raw", "-"), []), "cpu_us_per_op")
    spread = [r["cpu_us_per_op"] for r in rs if r["cpu_us_per_op"] is not None]
    ratio = f"{base / cpu:.2f}" if cpu and base else "-"
    print(f"{op:<10}{transport:<11}{wait:<8}{median(rs, 'ops_per_s'):>9.0f}{median(rs, 'p99_us') / 1000:>9.2f}"
          + (f"{cpu:>11.1f}{min(spread):>6.1f}-{max(spread):<6.1f}{1e6 / cpu:>12.0f}" if cpu else f"{'-':>11}{'-':>13}{'-':>12}")
          + f"{ratio:>8}")
PY
if [[ -s $errors.failed ]]; then
  echo "failed runs:"; cat "$errors.failed"
fi
echo "raw results: $results (server log: $out/shardhub.log)"
exit "$status"
