#!/usr/bin/env bash
# Runs the cargo-fuzz targets, one after another; not part of CI (it needs a nightly toolchain
# and hours). docs/fuzzing.md says what each target checks and what the last long run found.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 3600; TARGET defaults to all of them. Each target's corpus
# grows in CRATE/fuzz/corpus/TARGET (started from the seeds in CRATE/fuzz/seeds/TARGET); a
# crash is kept in CRATE/fuzz/artifacts/TARGET and the log in CRATE/fuzz/logs/TARGET.log.
# Two runs of this script with different targets may go side by side, one per core.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET=${1:-3600}
shift || true
# Longest input libFuzzer builds: requests and bodies past this are covered by the limits
# tests, and short inputs keep the runs fast.
INPUT_BYTES_MAX=4096

declare -A CRATE_OF=(
  [mqtt_decode]=net [resp_request]=net [http_request]=net
  [shadow_update]=core [wallet_bodies]=shards
)
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(resp_request http_request shadow_update wallet_bodies mqtt_decode)
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz needs a nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

for target in "${TARGETS[@]}"; do
  crate=${CRATE_OF[$target]:?"unknown target $target (one of: ${!CRATE_OF[*]})"}
  dir=$crate/fuzz
  mkdir -p "$dir/corpus/$target" "$dir/artifacts/$target"
  seeds=()
  [ -d "$dir/seeds/$target" ] && seeds=("seeds/$target")
  dict=()
  [ -f "$dir/$target.dict" ] && dict=("-dict=$target.dict")
  mkdir -p "$dir/logs"
  log=$dir/logs/$target.log
  echo "== $target: ${SECONDS_PER_TARGET}s, log in $log"
  status=0
  (cd "$dir" && cargo +nightly fuzz run -O "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len="$INPUT_BYTES_MAX" -print_final_stats=1 \
    "${dict[@]}") >"$log" 2>&1 || status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $2}' | tail -1)
  corpus=$(find "$dir/corpus/$target" -type f | wc -l)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  if [ "$status" -eq 0 ]; then
    echo "== $target: ok, ${runs:-?} inputs, coverage ${cov:-?} edges, corpus $corpus files"
  else
    echo "== $target: FAILED (exit $status) after ${runs:-?} inputs; see $log and $dir/artifacts/$target" >&2
    exit "$status"
  fi
done
