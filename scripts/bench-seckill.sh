#!/usr/bin/env bash
# Side-by-side flash-sale benchmark in one run: redis-server 7 running the reference Lua stock
# script (bench/lua/seckill.lua, driven by shardhub-bench and by redis-benchmark) and shardhub's
# SECKILL.BUY with 1 and 2 shards in each seckill.durability mode, all with the same load.
# Prints throughput and server CPU microseconds per request, with the CPU ratio to Redis+Lua.
#
#   scripts/bench-seckill.sh [SECONDS_PER_RUN]      (default 5; about 45 runs in all)
#
# Workloads per server and pipeline depth (1 and 16):
#   reserve   stock far above what a run can take, so every BUY is accepted (the write path)
#   capped    shardhub only: reserve under a per-user LIMIT too high to refuse anything, so
#             each BUY also checks and updates the user's holding (compared with reserve's
#             Redis+Lua, whose script has no per-user limit)
#   sold-out  1000 units per SKU and many more BUYs, so nearly all are refused (the read path)
# Every shardhub-bench run ends with its audit of the stock counts; a failed audit is marked
# in the table and makes the script exit non-zero, without stopping the other runs.
# Loopback only; every server it starts is stopped at the end. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
conns=${BENCH_CONNECTIONS:-50}
skus=10
reserve_stock=1000000000 # per SKU; a run on this VM takes well under 1% of it
soldout_stock=1000
source scripts/lib/bench-env.sh
out=$(mktemp -d)
pids=()
status=0
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$out"/data-*
}
trap cleanup EXIT

stop_server() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
stock_of() { [ "$1" = sold-out ] && echo "$soldout_stock" || echo "$reserve_stock"; }
capped_limit=1000000 # per user: far above what one user buys in a run

# Labels are target/shards/durability/workload: the table below splits them.
run_seckill() { # label-prefix target pid port
  local prefix=$1 target=$2 pid=$3 port=$4 workloads=(reserve sold-out) limit
  [ "$target" = shardhub ] && workloads=(reserve capped sold-out)
  for p in 1 16; do
    for workload in "${workloads[@]}"; do
      limit=()
      [ "$workload" = capped ] && limit=(--limit "$capped_limit")
      $B seckill --addr 127.0.0.1:"$port" --target "$target" --connections "$conns" --pipeline "$p" \
        --duration "$secs" --skus "$skus" --stock "$(stock_of $workload)" "${limit[@]}" --server-pid "$pid" \
        --label "$prefix/$workload" --json >>"$out/results.jsonl" 2>>"$out/audit.log" || status=1
    done
  done
}

schedstat_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ns += $1} END {printf "%.0f", ns}'; }

# redis-benchmark on the one hot SKU, sized to last about as long as shardhub-bench's run of
# the same cell. Its server CPU spans the whole redis-benchmark process (connection set-up
# included), so it reads slightly high for short runs.
run_redis_benchmark() { # pid port
  local pid=$1 port=$2 sha
  sha=$(redis-cli -p "$port" -x SCRIPT LOAD <bench/lua/seckill.lua)
  for p in 1 16; do
    for workload in reserve sold-out; do
      redis-cli -p "$port" SET sku:0 "$(stock_of $workload)" >/dev/null
      n=$(python3 - "$out/results.jsonl" "redis-lua/-/-/$workload" "$p" "$secs" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rps = [r["rps"] for r in rows if r["label"] == sys.argv[2] and r["pipeline"] == int(sys.argv[3])]
print(int((rps[0] if rps else 100000) * float(sys.argv[4])))
PY
      )
      before=$(schedstat_ns "$pid")
      redis-benchmark -p "$port" -c "$conns" -P "$p" -n "$n" --csv EVALSHA "$sha" 1 sku:0 1 >"$out/rb.csv"
      after=$(schedstat_ns "$pid")
      python3 - "$out/rb.csv" "$workload" "$p" "$n" "$((after - before))" >>"$out/results.jsonl" <<'PY'
import csv, json, sys
row = list(csv.DictReader(open(sys.argv[1])))[-1]
n, cpu_ns = int(sys.argv[4]), int(sys.argv[5])
print(json.dumps({"label": f"redis-benchmark/-/-/{sys.argv[2]}", "pipeline": int(sys.argv[3]),
                  "rps": float(row["rps"]), "p99_us": float(row["p99_latency_ms"]) * 1000,
                  "server_cpu_us_per_req": cpu_ns / 1000 / n, "audit_pass": None}))
PY
    done
  done
}

port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
pids+=($!); wait_ping "$port" "${pids[-1]}"
run_seckill "redis-lua/-/-" redis-lua "${pids[-1]}" "$port"
run_redis_benchmark "${pids[-1]}" "$port"
stop_server "${pids[-1]}"

for shards in 1 2; do
  for durability in none batch sync; do
    port=$(free_port)
    config="$out/seckill-$durability.toml"
    printf '[seckill]\ndurability = "%s"\n' "$durability" >"$config"
    "$SHARDHUB" serve --config "$config" --shards "$shards" --data-dir "$out/data-$shards-$durability" \
      --resp 127.0.0.1:"$port" --mqtt 127.0.0.1:0 --http 127.0.0.1:0 2>"$out/shardhub-$shards-$durability.log" &
    pids+=($!); wait_ping "$port" "${pids[-1]}"
    run_seckill "shardhub/$shards/$durability" shardhub "${pids[-1]}" "$port"
    stop_server "${pids[-1]}"
    rm -rf "$out/data-$shards-$durability"
  done
done

python3 - "$out/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    r["target"], r["shards"], r["durability"], r["workload"] = r["label"].split("/")
ref = {(r["workload"], r["pipeline"]): r for r in rows if r["target"] == "redis-lua"}
audit = {True: "PASS", False: "FAIL", None: "-"}
print(f"{'target':<16}{'shards':>7}  {'durability':<11}{'P':>3}  {'workload':<9}{'req/s':>11}{'p99 ms':>9}"
      f"{'srv us/req':>12}{'CPU vs lua':>12}  audit")
for r in rows:
    base = ref.get(("reserve" if r["workload"] == "capped" else r["workload"], r["pipeline"]))
    cpu = r["server_cpu_us_per_req"]
    ratio = cpu / base["server_cpu_us_per_req"] if base else float("nan")
    print(f"{r['target']:<16}{r['shards']:>7}  {r['durability']:<11}{r['pipeline']:>3}  {r['workload']:<9}"
          f"{r['rps']:>11.0f}{r['p99_us'] / 1000:>9.2f}{cpu:>12.2f}{ratio:>12.2f}  {audit[r['audit_pass']]}")
PY
if grep -qE '^FAIL|^shardhub-bench:' "$out/audit.log"; then
  echo "audit failures or failed runs:"; grep -E '^FAIL|^shardhub-bench:' "$out/audit.log"
fi
echo "raw results: $out/results.jsonl (audit lines: $out/audit.log)"
exit "$status"
