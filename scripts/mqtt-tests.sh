#!/usr/bin/env bash
# Runs the black-box MQTT integration suite (tests/mqtt) with real, independent clients:
# paho-mqtt (v5 and 3.1.1), mosquitto_pub/mosquitto_sub and raw sockets.
#
# Installs what it needs, idempotently: Debian packages mosquitto (the reference broker),
# mosquitto-clients and python3-venv, and a virtual environment at target/pyenv with pinned
# paho-mqtt, pytest, pytest-timeout, PyJWT and requests (scripts/pyenv.sh, shared with
# scripts/wallet-tests.sh). Then runs pytest on tests/mqtt with every argument passed through.
#
#   scripts/mqtt-tests.sh                          # against Mosquitto (MQTT_BROKER=mosquitto)
#   MQTT_BROKER=shardhub scripts/mqtt-tests.sh     # against target/debug/shardhub
#   MQTT_BROKER=shardhub SHARDHUB_BIN=target/release/shardhub scripts/mqtt-tests.sh -k qos
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/pyenv.sh

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto-clients)
pyenv_need_debs missing
apt_install ${missing[@]+"${missing[@]}"}
# The Debian package starts a system-wide mosquitto on 1883 on machines with systemd; the
# suite starts its own on free ports and does not need it, so it is left alone.

pyenv_prepare

# mosquitto lives in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
# No __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1
export MQTT_BROKER="${MQTT_BROKER:-mosquitto}"
echo "==> pytest tests/mqtt against $MQTT_BROKER"
exec "$VENV/bin/python" -m pytest tests/mqtt "$@"
