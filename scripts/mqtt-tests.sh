#!/usr/bin/env bash
# Runs the black-box MQTT integration suite (tests/mqtt) with real, independent clients:
# paho-mqtt (v5 and 3.1.1), mosquitto_pub/mosquitto_sub and raw sockets.
#
# Installs what it needs, idempotently: Debian packages mosquitto (the reference broker),
# mosquitto-clients and python3-venv, and a virtual environment at target/pyenv with pinned
# paho-mqtt, pytest, pytest-timeout, PyJWT and requests. Then runs pytest on tests/mqtt with
# every argument passed through.
#
#   scripts/mqtt-tests.sh                          # against Mosquitto (MQTT_BROKER=mosquitto)
#   MQTT_BROKER=shardhub scripts/mqtt-tests.sh     # against target/debug/shardhub
#   MQTT_BROKER=shardhub SHARDHUB_BIN=target/release/shardhub scripts/mqtt-tests.sh -k qos
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# The interpreter the venv is built from: Debian's python3 (what python3-venv belongs to)
# unless PYTHON names another.
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v "$PYTHON" >/dev/null 2>&1 || missing+=(python3)
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then missing+=(python3-venv); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u)
fi
# The Debian package starts a system-wide mosquitto on 1883 on machines with systemd; the
# suite starts its own on free ports and does not need it, so it is left alone.

VENV=target/pyenv
# Pinned versions; bump them here (and the stamp changes, so the venv is refreshed).
PIP_PINS=(paho-mqtt==2.1.0 pytest==8.3.5 pytest-timeout==2.3.1 PyJWT==2.10.1 requests==2.32.3)
stamp="$VENV/.pins"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${PIP_PINS[*]}" ]; then
  echo "==> preparing $VENV"
  mkdir -p target
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PIP_PINS[@]}"
  echo "${PIP_PINS[*]}" >"$stamp"
fi

# mosquitto lives in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
# No __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1
export MQTT_BROKER="${MQTT_BROKER:-mosquitto}"
echo "==> pytest tests/mqtt against $MQTT_BROKER"
exec "$VENV/bin/python" -m pytest tests/mqtt "$@"
