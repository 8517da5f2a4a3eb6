#!/usr/bin/env bash
# Soaks the flash-sale crash test (shards/tests/seckill_crash.rs): buy storms killed with
# SIGKILL and restarted on the same data dir, many more rounds than CI runs, in release mode.
#
#   scripts/seckill-soak.sh [ROUNDS]      (default 50)
#
# Runs the kill_9 tests with SECKILL_CRASH_ROUNDS=ROUNDS: ROUNDS rounds in `sync` mode and a
# third as many in each of `batch` and `none`, each mode on one data dir that grows from round
# to round. A lost acknowledged change, an id handed out twice or an unbalanced SKU fails the
# run with the details.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-50}
case $rounds in
  '' | *[!0-9]* | 0) echo "usage: $0 [ROUNDS>0]" >&2; exit 2 ;;
esac
echo "==> building (release)"
cargo build --release -q -p shardhub
cargo test --release -q -p shardhub --test seckill_crash --no-run
echo "==> $rounds crash rounds"
start=$(date +%s)
SECKILL_CRASH_ROUNDS=$rounds cargo test --release -q -p shardhub --test seckill_crash -- --nocapture kill_9
echo "==> $rounds rounds passed in $(( $(date +%s) - start )) s"
