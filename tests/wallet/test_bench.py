"""`shardhub-bench wallet` against a live server (docs/benchmarks.md, "Wallet").

The bench checks every answer it gets (the op's fields, status 200) and stops at the first
wrong one, so a run that exits 0 with operations counted has had every answer right. These
tests keep that harness working for each transport and each way its client waits; they
assert no figures, which belong to scripts/bench-wallet.sh on a quiet machine.

The binary is `$SHARDHUB_BENCH_BIN` (default target/debug/shardhub-bench; scripts/test.sh
builds it).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from wallet_server import REPO_ROOT


def bench_bin() -> Path:
    path = Path(os.environ.get("SHARDHUB_BENCH_BIN", "target/debug/shardhub-bench"))
    return path if path.is_absolute() else REPO_ROOT / path


def run_bench(server, *args: str) -> dict:
    if not os.access(bench_bin(), os.X_OK):
        pytest.skip(f"{bench_bin()} is not built (cargo build -p shardhub-bench)")
    out = subprocess.run(
        [str(bench_bin()), "wallet", "--addr", f"127.0.0.1:{server.http_port}", "--json", *args],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("op, transport, wait", [
    ("address", "plain", "sleep"),
    ("address", "plain", "spin"),
    ("address", "secure", "sleep"),
    ("address", "secure", "spin"),
    ("sign-btc", "secure", "spin"),
])
def test_the_wallet_load_runs_with_every_answer_right(server, op, transport, wait):
    report = run_bench(server, "--op", op, "--transport", transport, "--client-wait", wait,
                       "--connections", "2", "--duration", "0.3", "--server-pid", str(server.proc.pid))
    assert (report["op"], report["transport"], report["client_wait"]) == (op, transport, wait)
    assert report["ops"] > 0
    assert report["cpu_of"] == "server" and report["cpu_us_per_op"] > 0
    # The secure run registered one client per connection and one for set-up, then removed them.
    listed = requests.get(f"{server.url}/v1/admin/secure-clients", timeout=15).json()["clients"]
    assert [c["client_id"] for c in listed if c["client_id"].startswith("bench-")] == []
