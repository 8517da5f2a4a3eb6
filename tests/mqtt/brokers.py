"""Starting and stopping the broker under test: Mosquitto (the reference) or shardhub.

Both take the suite's settings as shardhub's `[mqtt]`/`[shadow]` keys (expect.SUITE_DEFAULTS
merged with a test's @pytest.mark.broker_config); Mosquitto gets the keys it has translated
to its own options, and refuses the rest so a test cannot silently run against a broker
that ignores its setting.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

# shardhub [mqtt] key -> (mosquitto option, is it a per-listener option).
MOSQUITTO_KEYS = {
    "keep_alive_max_secs": ("max_keepalive", False),
    "receive_maximum": ("max_inflight_messages", False),
    "max_inflight": ("max_inflight_messages", False),
    "max_queued_messages": ("max_queued_messages", False),
    "max_packet_bytes": ("max_packet_size", False),
    "topic_alias_maximum": ("max_topic_alias", True),
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot write {v!r} as TOML")


class Broker:
    """One broker process on free loopback ports, with its files under `workdir`."""

    kind = "?"
    host = "127.0.0.1"

    def __init__(self, workdir: Path, settings: dict[str, dict], persistence: bool = False):
        self.workdir = workdir
        self.settings = settings
        self.persistence = persistence
        self.port = free_port()
        self.http_port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / f"{self.kind}.log"
        self.starts = 0

    @property
    def mqtt_settings(self) -> dict:
        return self.settings["mqtt"]

    def command(self) -> list[str]:
        raise NotImplementedError

    def wait_ready(self, deadline: float) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        self.write_config()
        log = open(self.log_path, "ab")
        log.write(f"==> start #{self.starts + 1}: {' '.join(self.command())}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.workdir)
        log.close()
        self.starts += 1
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode} at start:\n"
                                   + self.log_tail())
            if self.wait_ready(deadline):
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"{self.kind} not ready within 20 s:\n" + self.log_tail())

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Graceful stop and start on the same ports with the same data."""
        self.stop()
        # The old listener's port may linger for a moment.
        deadline = time.monotonic() + 5
        while port_accepts(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.start()

    def write_config(self) -> None:
        raise NotImplementedError

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    @property
    def http_url(self) -> str:
        if self.http_port is None:
            raise RuntimeError(f"{self.kind} has no HTTP port")
        return f"http://{self.host}:{self.http_port}"


class Mosquitto(Broker):
    kind = "mosquitto"

    def __init__(self, workdir: Path, settings: dict[str, dict], persistence: bool = False):
        super().__init__(workdir, settings, persistence)
        self.conf_path = workdir / "mosquitto.conf"
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.exe = exe

    def command(self) -> list[str]:
        return [self.exe, "-c", str(self.conf_path)]

    def write_config(self) -> None:
        listener_opts: list[str] = []
        global_opts: list[str] = []
        seen: dict[str, Any] = {}
        for key, value in self.settings["mqtt"].items():
            if key == "auth":
                if value != "anonymous":
                    raise ValueError("mosquitto runs with auth = anonymous only; mark the "
                                     "test shardhub_only")
                continue
            if key not in MOSQUITTO_KEYS:
                raise ValueError(f"mosquitto has no equivalent of mqtt.{key}; mark the test "
                                 "shardhub_only")
            opt, per_listener = MOSQUITTO_KEYS[key]
            if opt in seen and seen[opt] != value:
                raise ValueError(f"mosquitto's {opt} is both {seen[opt]} and {value} "
                                 "(receive_maximum and max_inflight must agree)")
            if opt in seen:
                continue
            seen[opt] = value
            (listener_opts if per_listener else global_opts).append(f"{opt} {value}")
        if self.settings.get("shadow"):
            raise ValueError("mosquitto has no shadows; mark the test shardhub_only")
        data = self.workdir / "mosquitto-data"
        data.mkdir(exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            *listener_opts,
            "allow_anonymous true",
            *global_opts,
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {data}/",
            # Run as root (CI), mosquitto would switch to user "mosquitto", which cannot
            # write the persistence file into pytest's private temporary directory.
            *(["user root"] if os.geteuid() == 0 else []),
            "log_type all",
            "log_timestamp_format %H:%M:%S",
        ]
        self.conf_path.write_text("\n".join(lines) + "\n")

    def wait_ready(self, deadline: float) -> bool:
        return port_accepts(self.host, self.port)


class Shardhub(Broker):
    kind = "shardhub"

    def __init__(self, workdir: Path, settings: dict[str, dict], persistence: bool = False):
        super().__init__(workdir, settings, persistence)
        self.resp_port = free_port()
        self.http_port = free_port()
        self.conf_path = workdir / "shardhub.toml"
        self.data_dir = workdir / "data"
        bin_ = os.environ.get("SHARDHUB_BIN", "target/debug/shardhub")
        path = Path(bin_)
        self.exe = str(path if path.is_absolute() else REPO_ROOT / path)

    def command(self) -> list[str]:
        return [self.exe, "serve", "--config", str(self.conf_path), "--shards", "2",
                "--resp", f"{self.host}:{self.resp_port}",
                "--mqtt", f"{self.host}:{self.port}",
                "--http", f"{self.host}:{self.http_port}",
                "--data-dir", str(self.data_dir)]

    def write_config(self) -> None:
        self.data_dir.mkdir(exist_ok=True)
        out = ["# written by tests/mqtt/brokers.py"]
        # A quick graceful stop: the suite stops a broker per test.
        sections = {"lifecycle": {"drain_timeout_ms": 3000}}
        sections.update({k: v for k, v in self.settings.items() if v or k == "mqtt"})
        for name, values in sections.items():
            out.append(f"\n[{name}]")
            for key, value in values.items():
                out.append(f"{key} = {toml_value(value)}")
        self.conf_path.write_text("\n".join(out) + "\n")

    def wait_ready(self, deadline: float) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/readyz", timeout=0.5) as r:
                return r.status == 200
        except OSError:
            return False

    def reload(self, mqtt: dict | None = None, shadow: dict | None = None) -> None:
        """Rewrites the config file with these changes and sends SIGHUP (hot reload)."""
        self.settings["mqtt"].update(mqtt or {})
        self.settings["shadow"].update(shadow or {})
        self.write_config()
        assert self.proc is not None and self.proc.poll() is None, "shardhub is not running"
        self.proc.send_signal(signal.SIGHUP)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.http_url}/metrics", timeout=5) as r:
            return r.read().decode()


def make_broker(kind: str, workdir: Path, settings: dict[str, dict],
                persistence: bool = False) -> Broker:
    if kind == "mosquitto":
        return Mosquitto(workdir, settings, persistence)
    if kind == "shardhub":
        return Shardhub(workdir, settings, persistence)
    raise ValueError(f"MQTT_BROKER must be mosquitto or shardhub, not {kind!r}")
