"""Fixtures for the black-box MQTT suite.

MQTT_BROKER=mosquitto (default) or shardhub picks the broker; every test gets its own broker
process on free loopback ports (so retained messages and sessions never leak between
tests), configured from expect.SUITE_DEFAULTS plus the test's marker:

    @pytest.mark.broker_config(mqtt={"keep_alive_max_secs": 4}, shadow={...}, persistence=True)

Markers:
    shardhub_only       what Mosquitto does not do; skipped against Mosquitto.
    mosquitto_deviates  Mosquitto 2.0 breaks the cited spec rule here; expected to fail
                        against Mosquitto (strict unless strict=False), must pass on shardhub.
    broker_config       settings for this test's broker (see above).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import os
from pathlib import Path

import pytest

import expect
from brokers import REPO_ROOT, Broker, make_broker
from clients import Client
from rawmqtt import RawClient

from util import BROKER_KIND


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "shardhub_only: needs shardhub (skipped on Mosquitto)")
    config.addinivalue_line("markers", "mosquitto_deviates(reason, strict=True): Mosquitto "
                            "breaks the cited spec rule; xfail there")
    config.addinivalue_line("markers", "broker_config(mqtt=None, shadow=None, persistence="
                            "False): settings for this test's broker")
    if BROKER_KIND not in ("mosquitto", "shardhub"):
        raise pytest.UsageError(f"MQTT_BROKER must be mosquitto or shardhub, not {BROKER_KIND!r}")
    if BROKER_KIND == "shardhub":
        bin_ = Path(os.environ.get("SHARDHUB_BIN", "target/debug/shardhub"))
        bin_ = bin_ if bin_.is_absolute() else REPO_ROOT / bin_
        if not os.access(bin_, os.X_OK):
            raise pytest.UsageError(f"MQTT_BROKER=shardhub but {bin_} is not an executable "
                                    "(build it with `cargo build -p shardhub`, or set SHARDHUB_BIN)")


def pytest_report_header(config: pytest.Config) -> str:
    return f"MQTT broker under test: {BROKER_KIND}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if BROKER_KIND == "mosquitto" and item.get_closest_marker("shardhub_only"):
            item.add_marker(pytest.mark.skip(reason="shardhub_only: Mosquitto does not do this"))
        dev = item.get_closest_marker("mosquitto_deviates")
        if BROKER_KIND == "mosquitto" and dev:
            reason = dev.args[0] if dev.args else dev.kwargs.get("reason", "")
            item.add_marker(pytest.mark.xfail(reason=f"Mosquitto deviates: {reason}",
                                              strict=dev.kwargs.get("strict", True)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    broker = getattr(item, "_mqtt_broker", None)
    if broker is not None and report.failed:
        report.sections.append((f"{broker.kind} log (tail)", broker.log_tail(80)))


def _settings(marker: pytest.Mark | None) -> tuple[dict, bool]:
    settings = copy.deepcopy(expect.SUITE_DEFAULTS)
    persistence = False
    if marker is not None:
        for section in ("mqtt", "shadow"):
            settings[section].update(marker.kwargs.get(section) or {})
        persistence = bool(marker.kwargs.get("persistence", False))
    return settings, persistence


@pytest.fixture
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Broker:
    """A fresh broker for this test; `broker.restart()` keeps its data."""
    settings, persistence = _settings(request.node.get_closest_marker("broker_config"))
    b = make_broker(BROKER_KIND, tmp_path, settings, persistence)
    b.start()
    request.node._mqtt_broker = b
    yield b
    b.stop()


@pytest.fixture
def uid(request: pytest.FixtureRequest):
    """uid("sub") -> a client id / topic level unique to this test and call."""
    base = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:6]
    counter = itertools.count(1)

    def make(prefix: str = "c") -> str:
        return f"{prefix}-{base}-{next(counter)}"
    return make


@pytest.fixture
def mqtt(broker: Broker):
    """mqtt(client_id, version=5, ...) -> a connected paho client (closed at teardown).
    Pass connect=False for an unconnected one."""
    made: list[Client] = []

    def make(client_id: str = "", connect: bool = True, expect_success: bool = True,
             **kw) -> Client:
        c = Client(broker.host, broker.port, client_id, **kw)
        made.append(c)
        if connect:
            c.connect(expect_success=expect_success)
        return c
    yield make
    for c in made:
        c.close()


@pytest.fixture
def raw(broker: Broker):
    """raw(version=5) -> a RawClient connected by TCP only (closed at teardown)."""
    made: list[RawClient] = []

    def make(version: int = 5, timeout: float = 5.0) -> RawClient:
        c = RawClient(broker.host, broker.port, version=version, timeout=timeout)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()
