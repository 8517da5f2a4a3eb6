#!/usr/bin/env bash
# Side-by-side RESP benchmark in one run: redis-server 7, a plain tokio current-thread-per-core
# PING server, and shardhub with 1 and 2 shards, all driven by shardhub-bench with the same
# load. Prints throughput and server CPU microseconds per request, with ratios to Redis.
#
#   scripts/bench.sh [SECONDS_PER_RUN]      (default 5)
#
# Loopback only; every server it starts is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
conns=${BENCH_CONNECTIONS:-50}
source scripts/lib/bench-env.sh
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open"; exit 1; }

run_matrix() { # label pid port commands...
  local label=$1 pid=$2 port=$3; shift 3
  for cmd in "$@"; do
    for p in 1 16; do
      $B resp --addr 127.0.0.1:"$port" --connections "$conns" --pipeline "$p" --duration "$secs" \
        --command "$cmd" --keyspace 100000 --server-pid "$pid" --label "$label" --json >>"$out/results.jsonl"
    done
  done
}

cmds=("PING" "SET key:__rand_int__ xxxxxxxxxx" "GET key:__rand_int__")

port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
pids+=($!); wait_port "$port"
redis-cli -p "$port" DEBUG POPULATE 100000 key: 10 >/dev/null 2>&1 || true
run_matrix redis-7 "${pids[-1]}" "$port" "${cmds[@]}"
kill "${pids[-1]}"

for threads in 1 2; do
  port=$(free_port)
  $B tokio-ping-server --addr 127.0.0.1:"$port" --threads "$threads" 2>/dev/null &
  pids+=($!); wait_port "$port"
  run_matrix "tokio-ping-${threads}t" "${pids[-1]}" "$port" "PING"
  kill "${pids[-1]}"
done

for shards in 1 2; do
  port=$(free_port)
  "$SHARDHUB" serve --shards "$shards" --resp 127.0.0.1:"$port" --mqtt 127.0.0.1:0 --http 127.0.0.1:0 \
    --data-dir "$out/data$shards" 2>"$out/shardhub$shards.log" &
  pids+=($!); wait_port "$port"
  run_matrix "shardhub-${shards}s" "${pids[-1]}" "$port" "${cmds[@]}"
  kill "${pids[-1]}"
done

python3 - "$out/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ref = {(r["command"].split()[0], r["pipeline"]): r for r in rows if r["label"] == "redis-7"}
print(f"{'server':<16}{'command':<6}{'P':>3}{'req/s':>12}{'p99 ms':>9}{'srv us/req':>12}{'vs redis rps':>14}{'vs redis cpu':>14}")
for r in rows:
    cmd = r["command"].split()[0]
    base = ref.get((cmd, r["pipeline"]))
    rps_ratio = r["rps"] / base["rps"] if base else float("nan")
    cpu_ratio = r["server_cpu_us_per_req"] / base["server_cpu_us_per_req"] if base else float("nan")
    print(f"{r['label']:<16}{cmd:<6}{r['pipeline']:>3}{r['rps']:>12.0f}{r['p99_us']/1000:>9.2f}"
          f"{r['server_cpu_us_per_req']:>12.2f}{rps_ratio:>14.2f}{cpu_ratio:>14.2f}")
PY
echo "raw results: $out/results.jsonl"
