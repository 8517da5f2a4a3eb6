#!/usr/bin/env bash
# Two builds of shardhub side by side, cell by cell, in interleaved rounds (A B B A A B ...),
# so that the drift of a shared VM lands on both alike: RESP PING, SET and GET and the
# flash-sale reserve (durability none and batch), at pipeline 1 and 16, one shard pinned to
# the last CPU and the load on the others. Prints the median server CPU microseconds per
# request of each build, the spread over rounds (min-max), and new/old.
#
#   scripts/bench-ab.sh OLD_BIN NEW_BIN [SECONDS] [ROUNDS]     (default 3 s, 3 rounds)
#   BENCH_DURABILITIES="sync" scripts/bench-ab.sh ...          (reserve only, in sync mode)
#
# OLD_BIN and NEW_BIN are `shardhub` binaries (for example an earlier commit's
# target/release/shardhub, copied aside); the load is this checkout's shardhub-bench.
# Loopback only; every server it starts is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 secs=${3:-3} rounds=${4:-3}
conns=${BENCH_CONNECTIONS:-50}
if [[ -n ${SHARDHUB_BENCH_BIN:-} ]]; then
  B=$SHARDHUB_BENCH_BIN
else
  cargo build --release -q -p shardhub-bench
  B=${CARGO_TARGET_DIR:-target}/release/shardhub-bench
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
last_cpu=$(($(nproc) - 1))
client_cpus=0-$((last_cpu > 0 ? last_cpu - 1 : 0))
out=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_ping() { for _ in $(seq 100); do [ "$(redis-cli -p "$1" PING 2>/dev/null)" = PONG ] && return 0; sleep 0.1; done; exit 1; }

run_build() { # label binary durability
  local label=$1 bin=$2 durability=$3 port
  port=$(free_port)
  printf '[server]\npin_cpus = false\n[seckill]\ndurability = "%s"\n' "$durability" >"$out/c.toml"
  rm -rf "$out/data"
  taskset -c "$last_cpu" "$bin" serve --config "$out/c.toml" --shards 1 --data-dir "$out/data" \
    --resp 127.0.0.1:"$port" --mqtt 127.0.0.1:0 --http 127.0.0.1:0 2>"$out/server.log" &
  pid=$!
  wait_ping "$port"
  for p in 1 16; do
    if [[ $durability == none ]]; then
      for cmd in "PING" "SET key:__rand_int__ xxxxxxxxxx" "GET key:__rand_int__"; do
        taskset -c "$client_cpus" $B resp --addr 127.0.0.1:"$port" --connections "$conns" --pipeline "$p" \
          --duration "$secs" --command "$cmd" --keyspace 100000 --server-pid "$pid" \
          --label "$label/${cmd%% *}" --json >>"$out/results.jsonl"
      done
    fi
    taskset -c "$client_cpus" $B seckill --addr 127.0.0.1:"$port" --connections "$conns" --pipeline "$p" \
      --duration "$secs" --skus 10 --stock 1000000000 --server-pid "$pid" \
      --label "$label/reserve-$durability" --json >>"$out/results.jsonl" 2>>"$out/audit.log"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

for round in $(seq "$rounds"); do
  order=(old new)
  ((round % 2 == 0)) && order=(new old)
  for which in "${order[@]}"; do
    bin=$old; [[ $which == new ]] && bin=$new
    for durability in ${BENCH_DURABILITIES:-none batch}; do
      run_build "$which" "$bin" "$durability"
    done
  done
done

python3 - "$out/results.jsonl" <<'PY'
import json, statistics, sys
cells = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    build, cell = r["label"].split("/", 1)
    cells.setdefault((cell, r["pipeline"]), {}).setdefault(build, []).append(r["server_cpu_us_per_req"])
print(f"{'cell':<16}{'P':>3}{'old us/req':>12}{'(min-max)':>16}{'new us/req':>12}{'(min-max)':>16}{'new/old':>9}")
for (cell, p), runs in sorted(cells.items()):
    o, n = runs.get("old", []), runs.get("new", [])
    if not o or not n:
        continue
    mo, mn = statistics.median(o), statistics.median(n)
    print(f"{cell:<16}{p:>3}{mo:>12.2f}{f'({min(o):.2f}-{max(o):.2f})':>16}{mn:>12.2f}"
          f"{f'({min(n):.2f}-{max(n):.2f})':>16}{mn / mo:>9.2f}")
PY
echo "raw results: $out/results.jsonl"
