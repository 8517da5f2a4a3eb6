#!/usr/bin/env bash
# Server RSS per idle MQTT 5.0 connection, plain and over TLS, shardhub (one shard) beside
# Mosquitto in the same run (not in CI; docs/tls.md). Each server gets N connections that
# finish their handshake and CONNECT, held 2 s, from scripts/idle-tls.py (Python asyncio,
# the venv of scripts/pyenv.sh). A throwaway EC P-256 certificate for 127.0.0.1.
#
#   scripts/idle-tls.sh [N]      (default 5000; the 20,000-descriptor limit per process caps it)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}
source scripts/lib/bench-env.sh
source scripts/pyenv.sh
out=$(mktemp -d)
pids=()
cleanup() { stop_pids; rm -rf "$out"; }
trap cleanup EXIT
ulimit -n 20000
export PATH="$PATH:/usr/sbin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$out/s.key" \
  -out "$out/s.crt" -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null
# Mosquitto started as root drops to its own user, which must read the throwaway key.
chmod o+rx "$out"
chmod 644 "$out/s.key" "$out/s.crt"

measure() { # label pid port [cafile]
  local label=$1 pid=$2 port=$3
  shift 3
  printf '%-22s %s\n' "$label" "$("$VENV/bin/python" scripts/idle-tls.py 127.0.0.1 "$port" "$pid" "$n" "$@")"
}

for mode in plain tls; do
  sp=$(free_port); mp=$(free_port)
  if [ "$mode" = tls ]; then
    printf '[listen]\nmqtts = "127.0.0.1:%s"\n[tls.mqtts]\ncert_file = "%s"\nkey_file = "%s"\n' \
      "$sp" "$out/s.crt" "$out/s.key" >"$out/c.toml"
    printf 'listener %s 127.0.0.1\nallow_anonymous true\ncertfile %s\nkeyfile %s\nmax_keepalive 65535\n' \
      "$mp" "$out/s.crt" "$out/s.key" >"$out/m.conf"
    ca=("$out/s.crt")
  else
    printf '[listen]\nmqtt = "127.0.0.1:%s"\n' "$sp" >"$out/c.toml"
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_keepalive 65535\n' "$mp" >"$out/m.conf"
    ca=()
  fi
  "$SHARDHUB" serve --config "$out/c.toml" --shards 1 --data-dir "$out/data-$mode" --resp 127.0.0.1:0 \
    --http 127.0.0.1:0 $([ "$mode" = tls ] && echo "--mqtt 127.0.0.1:0") 2>"$out/shardhub-$mode.log" &
  pids+=($!); spid=$!
  mosquitto -c "$out/m.conf" >"$out/mosquitto-$mode.log" 2>&1 &
  pids+=($!); mpid=$!
  sleep 1.5
  measure "shardhub $mode" "$spid" "$sp" "${ca[@]}"
  measure "mosquitto $mode" "$mpid" "$mp" "${ca[@]}"
  kill "$spid" "$mpid" 2>/dev/null || true
  wait "$spid" "$mpid" 2>/dev/null || true
done
mosquitto -h 2>&1 | head -1
