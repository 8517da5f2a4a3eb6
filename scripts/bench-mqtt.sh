#!/usr/bin/env bash
# Side-by-side MQTT benchmark in one run: Mosquitto (the reference broker) and shardhub with
# 1 and 2 shards, all driven by `shardhub-bench mqtt` with the same load:
#
#   - connect: 5k, 10k and 15k idle connections ramped at 5000/s, held 1 s: connect latency,
#     the server's RSS per idle connection, server CPU per connect;
#   - fanin: 8 publishers -> 8 subscribers of bench/+/data, QoS 0 and QoS 1;
#   - fanout: 1 publisher -> 100 subscribers, QoS 0 and QoS 1.
#
# Prints one table with messages (or connections) per second, p50/p99 latency, server CPU
# microseconds per delivered message (or per connect), RSS KiB per connection, and the
# ratios of shardhub to Mosquitto.
#
#   scripts/bench-mqtt.sh [SECONDS]      (seconds per fanin/fanout cell; default 3)
#
# Loopback only, free ports, a temporary directory for configs, data and logs; each server
# is started fresh for every section (each connect count, then the publish/subscribe cells)
# and everything started here is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
started_at=$(date +%s)

source scripts/lib/bench-env.sh
out=$(mktemp -d)
results="$out/results.jsonl"
notes="$out/notes.txt"
: >"$results"
: >"$notes"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# --- Mosquitto (Debian package) -----------------------------------------------------------
mosquitto_bin=$(command -v mosquitto || true)
[[ -z $mosquitto_bin && -x /usr/sbin/mosquitto ]] && mosquitto_bin=/usr/sbin/mosquitto
if [[ -z $mosquitto_bin ]]; then
  echo "mosquitto not found: installing the Debian package"
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq mosquitto >/dev/null
  mosquitto_bin=/usr/sbin/mosquitto
fi
mosquitto_version=$("$mosquitto_bin" -h 2>/dev/null | head -1 || true)

# --- Open files: every connection is a descriptor in the client and in the server ---------
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
ulimit -n "$hard" # the soft limit for this shell and every server and client it starts
cap=$((hard - 200)) # room for listeners, logs, rings, stdio
counts=()
for n in 5000 10000 15000; do
  if ((n > cap)); then
    echo "capping the $n-connection run to $cap: ulimit -Hn is $hard (client and server each hold one descriptor per connection)" | tee -a "$notes"
    n=$cap
  fi
  counts+=("$n")
done
echo "open files: hard limit $hard; connect runs of ${counts[*]} connections"
# One source address reaches one server through about 14k connections before the kernel's
# ephemeral port search stalls every connect (bench/src/mqtt/client.rs); two cover 15k.
bind="127.0.0.1,127.0.0.2"

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open"; exit 1; }

# Starts a server, sets $server_pid and $server_port. $1: mosquitto | shardhub-1s | shardhub-2s.
start_server() {
  local kind=$1
  server_port=$(free_port)
  case $kind in
    mosquitto)
      # Queue and in-flight bounds as shardhub's defaults (mqtt.max_queued_messages 1000,
      # mqtt.max_inflight 32, mqtt.keep_alive_max_secs 600); no persistence; no per-client
      # connection log lines (shardhub logs none either), but notices such as "Outgoing
      # messages are being dropped" are kept.
      cat >"$out/mosquitto.conf" <<EOF
listener $server_port 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 1000
max_inflight_messages 32
max_keepalive 600
connection_messages false
log_dest stderr
log_type error
log_type warning
log_type notice
EOF
      "$mosquitto_bin" -c "$out/mosquitto.conf" 2>>"$out/mosquitto.log" &
      ;;
    shardhub-*)
      local shards=${kind#shardhub-}
      shards=${shards%s}
      # limits.max_connections_per_shard (8192 by default, every protocol) would refuse the
      # 10k and 15k runs on one shard; mqtt.publishes_per_sec (1000 per client by default)
      # would rate-limit the publishers, which Mosquitto does not. Everything else is the
      # embedded default.
      cat >"$out/shardhub.toml" <<EOF
[limits]
max_connections_per_shard = 20000

[mqtt]
publishes_per_sec = 10000000
EOF
      rm -rf "$out/data"
      "$SHARDHUB" serve --config "$out/shardhub.toml" --shards "$shards" \
        --mqtt 127.0.0.1:"$server_port" --resp 127.0.0.1:0 --http 127.0.0.1:0 \
        --data-dir "$out/data" 2>>"$out/$kind.log" &
      ;;
  esac
  server_pid=$!
  pids+=("$server_pid")
  wait_port "$server_port"
}

stop_server() {
  local kind=$1
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "$kind: the server had exited before it was stopped (log: $out/$kind.log)" | tee -a "$notes"
    wait "$server_pid" 2>/dev/null || true
    pids=()
    return
  fi
  kill "$server_pid"
  for _ in $(seq 150); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "$kind: still running 15 s after SIGTERM; killed" | tee -a "$notes"
    kill -9 "$server_pid"
  fi
  wait "$server_pid" 2>/dev/null || true
  pids=() # one server at a time: nothing left to stop (and no stale pid to kill later)
}

# Runs one bench cell, keeping its JSON line even when the bench exits non-zero (a QoS 1
# loss prints its report, then fails).
cell() {
  local kind=$1; shift
  local line
  if ! line=$("$B" mqtt "$@" --addr 127.0.0.1:"$server_port" --server-pid "$server_pid" --label "$kind" --json 2>>"$out/bench.log"); then
    echo "$kind: shardhub-bench mqtt $* failed: $(tail -1 "$out/bench.log")" | tee -a "$notes"
  fi
  [[ -n $line ]] && echo "$line" >>"$results"
  return 0
}

for kind in mosquitto shardhub-1s shardhub-2s; do
  for n in "${counts[@]}"; do
    start_server "$kind"
    cell "$kind" connect --connections "$n" --rate 5000 --hold 1 --bind "$bind"
    stop_server "$kind"
  done
  start_server "$kind"
  for qos in 0 1; do
    cell "$kind" fanin --publishers 8 --subscribers 8 --qos "$qos" --duration "$secs"
    cell "$kind" fanout --subscribers 100 --qos "$qos" --duration "$secs"
  done
  stop_server "$kind"
done
dropping=$(grep -c "Outgoing messages are being dropped" "$out/mosquitto.log" 2>/dev/null || true)
if ((${dropping:-0} > 0)); then
  echo "mosquitto logged 'Outgoing messages are being dropped' for $dropping client session(s) (max_queued_messages)" >>"$notes"
fi

echo
echo "$mosquitto_version vs shardhub, $(nproc) CPUs, loopback; fanin/fanout cells of ${secs}s"
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]

def key(r):
    if r["kind"] == "connect":
        return ("connect", r["connections"])
    return (r["kind"], r["qos"])

ref = {key(r): r for r in rows if r["label"] == "mosquitto"}

def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"

head = ["server", "test", "per s", "p50 ms", "p99 ms", "srv CPU us", "KiB/conn", "lost/failed", "rate vs mosq", "CPU vs mosq", "KiB vs mosq"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for r in rows:
    base = ref.get(key(r))
    if r["kind"] == "connect":
        test = f"connect {r['connections']}"
        rate, cpu, kib = r["connects_per_s"], r["server_cpu_us_per_connect"], r["rss_per_conn_kib"]
        bad = r["failed"] + r["dropped_during_hold"]
        b_rate = base and base["connects_per_s"]
        b_cpu = base and base["server_cpu_us_per_connect"]
        b_kib = base and base["rss_per_conn_kib"]
    else:
        test = f"{r['kind']} {r['publishers']}->{r['subscribers']} QoS {r['qos']}"
        rate, cpu, kib = r["delivered_per_s"], r["server_cpu_us_per_msg"], None
        bad = r["lost"]
        b_rate = base and base["delivered_per_s"]
        b_cpu = base and base["server_cpu_us_per_msg"]
        b_kib = None
    cells = [
        r["label"], test, f"{rate:,.0f}", f"{r['p50_us'] / 1000:.2f}", f"{r['p99_us'] / 1000:.2f}",
        f"{cpu:.2f}" if cpu is not None else "-", f"{kib:.2f}" if kib is not None else "-", str(bad),
        ratio(rate, b_rate), ratio(cpu, b_cpu), ratio(kib, b_kib),
    ]
    print("| " + " | ".join(cells) + " |")
PY
echo
echo "per s: deliveries/s (fanin, fanout) or connections/s (connect); latency: publish to delivery,"
echo "or TCP connect to CONNACK; srv CPU us: per delivery, or per connect during the ramp."
if [[ -s $notes ]]; then
  echo
  echo "notes:"
  sed 's/^/  /' "$notes"
fi
echo
echo "raw results: $results (logs beside it); $(($(date +%s) - started_at)) s in all"
