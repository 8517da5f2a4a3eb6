#!/usr/bin/env bash
# The outbox relay's cost and throughput, in one run against one tansu broker (docs/pipeline.md):
#
#   1. server CPU per SECKILL.BUY with the relay off and on (same load, same durability,
#      interleaved rounds; the relay's thread and librdkafka's count as server CPU);
#   2. the relay's events per second per shard: the broker is stopped while buys build a
#      backlog, then resumed, and the drain is timed; against the ceiling of a plain producer
#      with the relay's settings (`shardhub-bench kafka-produce`) to the same broker;
#   3. end to end, a BUY's reply to its row committed in PostgreSQL by `shardhub sink`, p50
#      and p99 at a steady BENCH_RATE (default 10000) BUYs per second
#      (`shardhub-bench pipeline-latency`), with a private PostgreSQL cluster, split at Kafka:
#      reply -> relay send, send -> readable by a consumer, readable -> row committed.
#
#   scripts/bench-pipeline.sh [SECONDS_PER_RUN] [ROUNDS]      (defaults 5 and 3)
#
# The server is pinned to CPU 1 and the load to CPU 0 (this machine has two); tansu floats.
# Loopback only; everything it starts is stopped at the end. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}
durability=${BENCH_DURABILITY:-batch}
backlog_buys=${BENCH_BACKLOG_BUYS:-100000}
source scripts/lib/bench-env.sh
out=$(mktemp -d)
pids=()
rate=${BENCH_RATE:-10000}
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
cleanup() {
  [ -d "$out/pg/data" ] && as_pg "$pgbin/pg_ctl" -D "$out/pg/data" -m immediate stop >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$out"/data-* "$out"/tansu
}
trap cleanup EXIT

# On-CPU nanoseconds of a process's threads by kind (the shard threads, the relay, librdkafka's
# threads, the rest), as JSON: to split the server CPU of a run with the relay on.
thread_ns() { # pid
  python3 - "$1" <<'PY'
import json, os, sys
pid, out = sys.argv[1], {}
for t in os.listdir(f"/proc/{pid}/task"):
    try:
        comm = open(f"/proc/{pid}/task/{t}/comm").read().strip()
        ns = int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[0])
    except OSError:
        continue
    kind = ("shard" if comm.startswith("shard-") else "relay" if comm == "shardhub-relay"
            else "librdkafka" if comm.startswith("rdk:") else "other")
    out[kind] = out.get(kind, 0) + ns
print(json.dumps(out))
PY
}
metric() { # http-port name: the sum over shards
  curl -s "127.0.0.1:$1/metrics" | awk -v n="$2" '$1 ~ "^"n"[{ ]" {s += $2} END {printf "%.0f", s}'
}

kport=$(free_port)
mkdir -p "$out/tansu"
(cd "$out/tansu" && exec tansu broker --listener-url "tcp://127.0.0.1:$kport" \
  --advertised-listener-url "tcp://127.0.0.1:$kport" --storage-engine sqlite://tansu.db) >"$out/tansu.log" 2>&1 &
tansu_pid=$!
pids+=("$tansu_pid")
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$kport") 2>/dev/null && break; sleep 0.1; done
tansu topic create seckill.orders --partitions 4 --broker "tcp://127.0.0.1:$kport" >/dev/null
tansu topic create bench.produce --partitions 4 --broker "tcp://127.0.0.1:$kport" >/dev/null

start_server() { # relay(on|off) -> sets port, http, pid
  port=$(free_port); http=$(free_port)
  local config="$out/$1.toml"
  printf '[seckill]\ndurability = "%s"\n' "$durability" >"$config"
  [ "$1" = on ] && printf '[pipeline]\nbrokers = "127.0.0.1:%s"\n' "$kport" >>"$config"
  rm -rf "$out/data-$1"
  taskset -c 1 "$SHARDHUB" serve --config "$config" --shards 1 --data-dir "$out/data-$1" \
    --resp 127.0.0.1:"$port" --mqtt 127.0.0.1:0 --http 127.0.0.1:"$http" 2>"$out/shardhub-$1.log" &
  pid=$!
  pids+=("$pid")
  wait_ping "$port" "$pid"
}

# 1. CPU per BUY, relay off and on, interleaved.
for round in $(seq "$rounds"); do
  for relay in off on; do
    start_server "$relay"
    thread_ns "$pid" >"$out/threads-$relay-$round.before"
    taskset -c 0 "$B" seckill --addr 127.0.0.1:"$port" --target shardhub --connections 50 --pipeline 16 \
      --duration "$secs" --skus 10 --stock 1000000000 --server-pid "$pid" \
      --label "relay-$relay/$round" --json >>"$out/cpu.jsonl" 2>>"$out/audit.log"
    thread_ns "$pid" >"$out/threads-$relay-$round.after"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done

# 2. Relay throughput: a backlog built with the broker stopped, then drained.
start_server on
kill -STOP "$tansu_pid"
taskset -c 0 "$B" seckill --addr 127.0.0.1:"$port" --target shardhub --connections 50 --pipeline 16 \
  --requests "$backlog_buys" --skus 10 --stock 1000000000 --label backlog --json \
  >"$out/backlog.jsonl" 2>>"$out/audit.log" || true
before=$(metric "$http" shardhub_relay_published_total)
kill -CONT "$tansu_pid"
t0=$(date +%s.%N)
while [ "$(metric "$http" shardhub_relay_unpublished_bytes)" != 0 ]; do sleep 0.05; done
t1=$(date +%s.%N)
after=$(metric "$http" shardhub_relay_published_total)
kill "$pid"; wait "$pid" 2>/dev/null || true
"$B" kafka-produce --brokers 127.0.0.1:"$kport" --topic bench.produce --events "$((after - before))" --json >"$out/produce.json"

# 3. End to end into PostgreSQL.
mkdir -p "$out/pg"
# The cluster runs as postgres: it must reach its directory.
[ "$(id -u)" -eq 0 ] && chmod o+x "$out" && chown postgres:postgres "$out/pg"
as_pg "$pgbin/initdb" -D "$out/pg/data" -U postgres --auth=trust -E UTF8 >/dev/null
pgport=$(free_port)
as_pg "$pgbin/pg_ctl" -D "$out/pg/data" -o "-p $pgport -k $out/pg -c listen_addresses=127.0.0.1" \
  -l "$out/pg/log" -w start >/dev/null
pgurl="host=127.0.0.1 port=$pgport user=postgres dbname=postgres"
tansu topic create e2e.orders --partitions 4 --broker "tcp://127.0.0.1:$kport" >/dev/null
"$SHARDHUB" sink --brokers 127.0.0.1:"$kport" --topic e2e.orders --postgres "$pgurl" \
  --metrics 127.0.0.1:0 2>"$out/sink.log" &
pids+=($!)
port=$(free_port)
printf '[seckill]\ndurability = "%s"\n[pipeline]\nbrokers = "127.0.0.1:%s"\norders_topic = "e2e.orders"\n' \
  "$durability" "$kport" >"$out/e2e.toml"
taskset -c 1 "$SHARDHUB" serve --config "$out/e2e.toml" --shards 1 --data-dir "$out/data-e2e" \
  --resp 127.0.0.1:"$port" --mqtt 127.0.0.1:0 --http 127.0.0.1:0 2>"$out/shardhub-e2e.log" &
pids+=($!)
wait_ping "$port" "${pids[-1]}"
redis-cli -p "$port" STOCK.SET sku:latency 1000000000 >/dev/null
taskset -c 0 "$B" pipeline-latency --addr 127.0.0.1:"$port" --postgres "$pgurl" --rate "$rate" \
  --duration "$secs" --brokers 127.0.0.1:"$kport" --topic e2e.orders --json >"$out/e2e.json"

python3 - "$out/cpu.jsonl" "$before" "$after" "$t0" "$t1" "$out/produce.json" "$out/e2e.json" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cpu = {r: [x["server_cpu_us_per_req"] for x in rows if x["label"].startswith(f"relay-{r}/")] for r in ("off", "on")}
rps = {r: [x["rps"] for x in rows if x["label"].startswith(f"relay-{r}/")] for r in ("off", "on")}
off, on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
print(f"server CPU us per BUY (median of {len(cpu['off'])}): relay off {off:.2f} {cpu['off']}, "
      f"on {on:.2f} {cpu['on']}; ratio on/off {on / off:.3f}")
print(f"BUY/s median: off {statistics.median(rps['off']):.0f}, on {statistics.median(rps['on']):.0f}")
# Where the server's CPU went with the relay on: each kind's share of the run, as us per BUY.
import glob, os
shares = {}
for before in sorted(glob.glob(os.path.join(os.path.dirname(sys.argv[1]), "threads-on-*.before"))):
    b, a = json.load(open(before)), json.load(open(before[:-len("before")] + "after"))
    total = sum(a.get(k, 0) - b.get(k, 0) for k in a)
    for k in a:
        shares.setdefault(k, []).append((a.get(k, 0) - b.get(k, 0)) / total if total else 0)
print("relay on, server CPU us per BUY by thread kind (median share x median total): " + ", ".join(
    f"{k} {statistics.median(v) * on:.2f}" for k, v in sorted(shares.items())))
events = int(sys.argv[3]) - int(sys.argv[2])
secs = float(sys.argv[5]) - float(sys.argv[4])
relay = events / secs
plain = json.load(open(sys.argv[6]))
print(f"relay drain: {events} events in {secs:.2f} s = {relay:.0f} events/s (one shard); "
      f"plain producer: {plain['events_per_sec']:.0f} events/s; ratio {relay / plain['events_per_sec']:.2f}")
e2e = json.load(open(sys.argv[7]))
print(f"end to end at {e2e['buys_per_sec']:.0f} BUY/s ({e2e['orders']} orders, {e2e['stored']} in PostgreSQL): "
      f"BUY reply -> row committed p50 {e2e['p50_us'] / 1000:.1f} ms, p99 {e2e['p99_us'] / 1000:.1f} ms, "
      f"max {e2e['max_us'] / 1000:.1f} ms")
print(f"  split over the {e2e['seen_in_kafka']} orders read back from Kafka (p50 / p99 ms): " + ", ".join(
    f"{name} {e2e[key]['p50_us'] / 1000:.1f} / {e2e[key]['p99_us'] / 1000:.1f}"
    for name, key in (("reply -> relay send", "relay"), ("send -> readable in Kafka", "broker"),
                      ("readable -> row committed", "sink"))))
PY
echo "raw results: $out"
