#!/usr/bin/env bash
# Runs the black-box light-wallet suite (tests/wallet, docs/wallet.md) against a shardhub
# binary: the HTTP API with known answers, custody of the keys across restarts and crashes,
# bearer keys, and the SM2/SM4 secure channel.
#
# Installs what it needs, idempotently: python3-venv (Debian) and the virtual environment at
# target/pyenv with pinned pytest, pytest-timeout and requests (scripts/pyenv.sh, shared with
# scripts/mqtt-tests.sh). Then runs pytest on tests/wallet with every argument passed through.
#
#   scripts/wallet-tests.sh                                    # target/debug/shardhub
#   SHARDHUB_BIN=target/release/shardhub scripts/wallet-tests.sh
#   (test_bench.py runs $SHARDHUB_BENCH_BIN, default target/debug/shardhub-bench)
#   scripts/wallet-tests.sh tests/wallet/test_custody.py -k kill -v
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/pyenv.sh

missing=()
pyenv_need_debs missing
apt_install ${missing[@]+"${missing[@]}"}
pyenv_prepare

# No __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1
export SHARDHUB_BIN="${SHARDHUB_BIN:-target/debug/shardhub}"
echo "==> pytest tests/wallet against $SHARDHUB_BIN"
exec "$VENV/bin/python" -m pytest tests/wallet "$@"
