#!/usr/bin/env bash
# TLS costs, shardhub beside Redis 7 in the same run (not in CI; docs/tls.md): server CPU per
# full handshake (`openssl s_time -new`, TLS 1.3 and 1.2) and per pipelined SET over TLS and
# plain (`redis-benchmark`, 16 connections x 16 pipelined). One shard; each server pinned to
# CPU 1, the clients to CPU 0. A throwaway EC P-256 certificate for 127.0.0.1.
#
#   scripts/bench-tls.sh [SECONDS] [REQUESTS]      (defaults 5 and 400000)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
n=${2:-400000}
source scripts/lib/bench-env.sh
out=$(mktemp -d)
pids=()
cleanup() { stop_pids; rm -rf "$out"; }
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$out/s.key" \
  -out "$out/s.crt" -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null
cpu_ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
per() { python3 -c "print(f'{($2 - $1) * 1e6 / $(getconf CLK_TCK) / $3:.3f}')"; }

sp=$(free_port); stls=$(free_port); rp=$(free_port); rtls=$(free_port)
printf '[listen]\nresps = "127.0.0.1:%s"\n[tls.resps]\ncert_file = "%s"\nkey_file = "%s"\n' \
  "$stls" "$out/s.crt" "$out/s.key" >"$out/c.toml"
taskset -c 1 "$SHARDHUB" serve --config "$out/c.toml" --shards 1 --data-dir "$out/data" \
  --resp 127.0.0.1:"$sp" --mqtt 127.0.0.1:0 --http 127.0.0.1:0 2>"$out/shardhub.log" &
pids+=($!); shardhub_pid=$!
taskset -c 1 redis-server --port "$rp" --tls-port "$rtls" --tls-cert-file "$out/s.crt" \
  --tls-key-file "$out/s.key" --tls-auth-clients no --save "" --appendonly no >"$out/redis.log" 2>&1 &
pids+=($!); redis_pid=$!
wait_ping "$sp" "$shardhub_pid"
wait_ping "$rp" "$redis_pid"

printf '%-9s %-8s %12s %14s\n' server what per_second server_cpu_us
for target in shardhub redis; do
  if [ "$target" = shardhub ]; then pid=$shardhub_pid; plain=$sp; tls=$stls; else pid=$redis_pid; plain=$rp; tls=$rtls; fi
  for v in tls1_3 tls1_2; do
    a=$(cpu_ticks "$pid")
    line=$(taskset -c 0 openssl s_time -connect 127.0.0.1:"$tls" -new -time "$secs" -"$v" 2>&1 | grep "connections in" | head -1)
    b=$(cpu_ticks "$pid")
    count=$(echo "$line" | awk '{print $1}'); rate=$(echo "$line" | awk '{printf "%.0f", $1 / $4}')
    printf '%-9s %-8s %12s %14s\n' "$target" "hs-${v#tls}" "$rate" "$(per "$a" "$b" "$count")"
  done
  for mode in plain tls; do
    if [ "$mode" = tls ]; then args=(--tls --cacert "$out/s.crt" -p "$tls"); else args=(-p "$plain"); fi
    a=$(cpu_ticks "$pid")
    rate=$(taskset -c 0 redis-benchmark "${args[@]}" -t set -n "$n" -c 16 -P 16 -q 2>/dev/null |
      grep -o "[0-9.]* requests per second" | head -1 | awk '{printf "%.0f", $1}')
    b=$(cpu_ticks "$pid")
    printf '%-9s %-8s %12s %14s\n' "$target" "set-$mode" "$rate" "$(per "$a" "$b" "$n")"
  done
done
