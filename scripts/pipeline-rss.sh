#!/usr/bin/env bash
# Memory over millions of orders with the order pipeline on (not in CI; docs/pipeline.md):
# one shard, the relay publishing to tansu, finished_orders_keep_secs = 1. Each round buys
# and pays ROUND orders with shardhub-bench, waits until the relay has published everything
# and the owner archived what it may, then samples the server's RSS. RSS must level off.
#
#   scripts/pipeline-rss.sh [ROUNDS] [ROUND]      (defaults 10 rounds of 1,000,000 orders)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
round=${2:-1000000}
source scripts/lib/bench-env.sh
out=$(mktemp -d)
pids=()
cleanup() { stop_pids; rm -rf "$out"; }
trap cleanup EXIT
metric() { curl -s "127.0.0.1:$http/metrics" | awk -v n="$1" '$1 ~ "^"n"[{ ]" {s += $2} END {printf "%.0f", s}'; }

kport=$(free_port)
mkdir -p "$out/tansu"
(cd "$out/tansu" && exec tansu broker --listener-url "tcp://127.0.0.1:$kport" \
  --advertised-listener-url "tcp://127.0.0.1:$kport" --storage-engine sqlite://tansu.db) >"$out/tansu.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$kport") 2>/dev/null && break; sleep 0.1; done
tansu topic create seckill.orders --partitions 4 --broker "tcp://127.0.0.1:$kport" >/dev/null
port=$(free_port); http=$(free_port)
printf '[seckill]\ndurability = "batch"\nfinished_orders_keep_secs = 1\n[pipeline]\nbrokers = "127.0.0.1:%s"\n' \
  "$kport" >"$out/c.toml"
"$SHARDHUB" serve --config "$out/c.toml" --shards 1 --data-dir "$out/data" --resp 127.0.0.1:"$port" \
  --mqtt 127.0.0.1:0 --http 127.0.0.1:"$http" 2>"$out/shardhub.log" &
pid=$!
pids+=("$pid")
wait_ping "$port" "$pid"
# The sales are set here with a 2 s HOLD (the bench's own set-up holds for an hour), so that
# a BUY whose payment the run did not send expires and its chunk can go.
for i in $(seq 0 9); do redis-cli -p "$port" STOCK.SET "sku:$i" 1000000000 HOLD 2 >/dev/null; done
printf '%8s %12s %10s %12s %9s\n' round orders live archived rss_MiB
for r in $(seq "$rounds"); do
  # A stock far above what the rounds take; every order paid.
  "$B" seckill --addr 127.0.0.1:"$port" --target shardhub --connections 16 --pipeline 16 \
    --requests "$round" --skus 10 --stock 1000000000 --pay-ratio 1 --no-setup \
    >/dev/null 2>>"$out/bench.log"
  while [ "$(metric shardhub_relay_unpublished_bytes)" != 0 ]; do sleep 0.5; done
  # The HOLD of unpaid orders, the keep time, a tick, and the relay's saved position.
  sleep 5
  rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' /proc/"$pid"/status)
  printf '%8s %12s %10s %12s %9s\n' "$r" "$((r * round))" "$(metric shardhub_seckill_orders_live)" \
    "$(metric shardhub_seckill_orders_archived)" "$rss"
done
