"""Fixtures for the black-box light-wallet suite (docs/wallet.md).

Every test that asks for `server` gets its own shardhub process (2 shards, free loopback
ports, the fast KDF) with its own data directory, configured by its marker:

    @pytest.mark.wallet_config(wallet={"auth": "api_key", ...}, start=True)

`wallet` is merged into `[wallet]`; `"clients": [{"id", "public_key"}]` becomes
`[[wallet.clients]]` tables; other sections may be given the same way (`listen={...}`,
`server={...}`, `lifecycle={...}`). `start=False` hands over an unstarted server (set
`server.configure(...)`, files, ... first, then `server.start()` or
`server.start_expect_failure()`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wallet_server import REPO_ROOT, WalletServer, shardhub_bin

VECTORS_PATH = REPO_ROOT / "crypto" / "testdata" / "wallet-vectors.json"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "wallet_config(wallet=None, start=True, **sections): "
                            "settings for this test's shardhub")
    bin_ = shardhub_bin()
    if not os.access(bin_, os.X_OK):
        raise pytest.UsageError(f"{bin_} is not an executable (build it with `cargo build -p "
                                "shardhub`, or set SHARDHUB_BIN)")


def pytest_report_header(config: pytest.Config) -> str:
    return f"shardhub under test: {shardhub_bin()}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    srv = getattr(item, "_wallet_server", None)
    if srv is not None and report.failed:
        report.sections.append(("shardhub log (tail)", srv.log_tail(80)))


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> WalletServer:
    """A fresh shardhub for this test; stopped (SIGTERM) at teardown."""
    marker = request.node.get_closest_marker("wallet_config")
    kwargs = dict(marker.kwargs) if marker else {}
    start = bool(kwargs.pop("start", True))
    wallet = kwargs.pop("wallet", None)
    srv = WalletServer(tmp_path / "shardhub", wallet=wallet, **kwargs)
    request.node._wallet_server = srv
    if start:
        srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def vectors() -> dict:
    """crypto/testdata/wallet-vectors.json."""
    return json.loads(VECTORS_PATH.read_text())
