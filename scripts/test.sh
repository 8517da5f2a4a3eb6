#!/usr/bin/env bash
# Runs every test of shardhub on a fresh Debian machine: installs what the tests need
# (idempotently), checks formatting and lints, runs the unit and integration tests and the
# MQTT suite (scripts/mqtt-tests.sh installs mosquitto, its clients and a Python venv with
# paho-mqtt), and verifies the systemd unit and the tuning script.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: redis-server and redis-tools (the reference peer and its clients),
# systemd (systemd-analyze verifies the unit files), gcc and make (librdkafka, the Kafka
# client, is built from source), PostgreSQL (the order sink's tests run a private cluster),
# openssl, curl and mosquitto-clients (the TLS tests make throwaway CAs and speak HTTPS and
# MQTT over TLS), HAProxy (the PROXY protocol test puts it in front of shardhub).
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u)
fi
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

# tansu, a Kafka-protocol broker for the order pipeline tests, with SQLite storage (it must
# survive its own restart). About 20 minutes to build, so only when the pinned version is
# missing.
TANSU_VERSION=0.6.0
if ! tansu --version 2>/dev/null | grep -qx "tansu $TANSU_VERSION"; then
  echo "==> installing tansu $TANSU_VERSION (once)"
  cargo install tansu --version "$TANSU_VERSION" --locked --no-default-features --features libsql
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked
# The binary cargo test built, wherever the target directory is (CARGO_TARGET_DIR may point
# at a cache outside the clone).
bin="${CARGO_TARGET_DIR:-target}/debug/shardhub"
echo "==> MQTT suite: paho-mqtt, mosquitto clients and raw sockets against $bin"
MQTT_BROKER=shardhub SHARDHUB_BIN="$bin" scripts/mqtt-tests.sh -q -p no:cacheprovider
# The wallet suite also drives shardhub-bench's wallet load (tests/wallet/test_bench.py).
cargo build -p shardhub-bench --locked
bench_bin="${CARGO_TARGET_DIR:-target}/debug/shardhub-bench"
echo "==> wallet suite: requests and an independent SM2/SM4 client against $bin"
SHARDHUB_BIN="$bin" SHARDHUB_BENCH_BIN="$bench_bin" scripts/wallet-tests.sh -q -p no:cacheprovider
echo "==> systemd units"
scripts/verify-systemd-unit.sh "$bin"
SHARDHUB_UNIT_FILE=systemd/shardhub-sink.service scripts/verify-systemd-unit.sh "$bin"
echo "==> tuning check (reports only; this host is not tuned for a million connections)"
set +e
tuning/check-limits.sh >/dev/null
rc=$?
set -e
if [ "$rc" -gt 1 ]; then echo "tuning/check-limits.sh failed with $rc"; exit 1; fi
echo "==> all tests passed"
