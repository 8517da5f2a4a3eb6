#!/usr/bin/env bash
# The hour-long soak (shards/tests/soak.rs); not part of CI. All three protocols under load,
# in phases that take turns: steady, kill -9 and restart, a full disk, slow clients. After
# every restart and at the end, every acknowledged order, retained message, shadow and wallet
# is checked; the server must never panic.
#
#   scripts/soak.sh [SECONDS] [PHASE_SECONDS]        (default 3600 and 60)
#
# The server's data directory is a tmpfs of SOAK_DISK_BYTES (default 2 GiB) mounted in a
# private user and mount namespace (unshare; no root needed), so the full-disk phase fills
# that and nothing else; it vanishes when the soak ends. Loopback only; release build.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3600}
phase=${2:-60}
disk_bytes=${SOAK_DISK_BYTES:-$((2 << 30))}
for n in "$secs" "$phase" "$disk_bytes"; do
  case $n in '' | *[!0-9]* | 0) echo "usage: $0 [SECONDS] [PHASE_SECONDS]" >&2; exit 2 ;; esac
done
command -v unshare >/dev/null || { echo "soak.sh needs unshare (util-linux)" >&2; exit 1; }

echo "==> building (release)"
cargo build --release -q -p shardhub
test_bin=$(cargo test --release -q -p shardhub --test soak --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "soak":
        print(m["executable"])')
[ -x "$test_bin" ] || { echo "soak.sh: could not build the soak test" >&2; exit 1; }

mount_dir=$(mktemp -d)
trap 'rmdir "$mount_dir" 2>/dev/null || true' EXIT
echo "==> soak: ${secs}s in ${phase}s phases, data on a $((disk_bytes >> 20)) MiB tmpfs"
start=$(date +%s)
# The test binary finds the server binary by the path Cargo compiled into it.
unshare --user --map-root-user --mount sh -c \
  'mount -t tmpfs -o size="$1" tmpfs "$2" && shift 2 && exec "$@"' soak "$disk_bytes" "$mount_dir" \
  env SOAK_DATA_DIR="$mount_dir" SOAK_SECS="$secs" SOAK_PHASE_SECS="$phase" \
  "$test_bin" --ignored --exact mixed_load_through_kills_full_disks_and_slow_clients --nocapture
echo "==> soak passed in $(($(date +%s) - start)) s"
