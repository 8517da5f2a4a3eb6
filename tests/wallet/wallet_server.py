"""One shardhub process for the wallet suite: its config file, passphrase, data and log.

The server is started as `$SHARDHUB_BIN serve --config <workdir>/shardhub.toml` with every
setting in the file (no command-line overrides, so a test can put `listen.http` on a
non-loopback address and a SIGHUP re-reads exactly what the test wrote):

    [server]    shards = 2, data_dir = <workdir>/data, pin_cpus = false
    [listen]    resp / mqtt / http on free loopback ports
    [lifecycle] drain_timeout_ms = 3000 (a quick SIGTERM), config_poll_ms = 0 (SIGHUP only)
    [wallet]    passphrase_file = <workdir>/passphrase, the fast KDF (1 MiB, 1 pass),
                then the test's keys; "clients": [{...}] becomes [[wallet.clients]] tables

Ready means `GET /readyz` answers 200. The process writes stdout and stderr to
<workdir>/shardhub.log, which conftest attaches to the report of a failed test.
"""

from __future__ import annotations

import copy
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 15.0
# The keystore passphrase every server gets unless a test writes another.
DEFAULT_PASSPHRASE = "wallet-suite keystore passphrase 7f3c"
FAST_KDF = {"kdf_memory_kib": 1024, "kdf_iterations": 1}


def shardhub_bin() -> Path:
    path = Path(os.environ.get("SHARDHUB_BIN", "target/debug/shardhub"))
    return path if path.is_absolute() else REPO_ROOT / path


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


_PICKED: set[int] = set()


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range when there is room, so that the
    suite's own client connections cannot take it before the server binds it."""
    lo, _ = _ephemeral_range()
    for _ in range(200):
        port = random.randrange(10000, lo) if lo > 12000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = s.getsockname()[1]
        if port not in _PICKED:
            _PICKED.add(port)
            return port
    raise RuntimeError("no free port")


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
    if isinstance(v, (str, Path)):
        s = str(v)
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def render_toml(sections: dict[str, dict]) -> str:
    """Sections of scalar keys; a list of dicts (wallet.clients) becomes [[section.key]]."""
    out = ["# written by tests/wallet/wallet_server.py"]
    for name, values in sections.items():
        tables = {k: v for k, v in values.items()
                  if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)}
        out.append(f"\n[{name}]")
        for key, value in values.items():
            if key not in tables:
                out.append(f"{key} = {toml_value(value)}")
        for key, rows in tables.items():
            for row in rows:
                out.append(f"\n[[{name}.{key}]]")
                for k, v in row.items():
                    out.append(f"{k} = {toml_value(v)}")
    return "\n".join(out) + "\n"


class WalletServer:
    """shardhub with 2 shards on free loopback ports; files under `workdir`."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, wallet: dict | None = None, **sections: dict):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.config_path = self.workdir / "shardhub.toml"
        self.passphrase_file = self.workdir / "passphrase"
        self.log_path = self.workdir / "shardhub.log"
        self.exe = str(shardhub_bin())
        self.resp_port, self.mqtt_port, self.http_port = free_port(), free_port(), free_port()
        self.passphrase_file.write_text(DEFAULT_PASSPHRASE + "\n")
        self.settings: dict[str, dict] = {
            "server": {"shards": 2, "data_dir": str(self.data_dir), "pin_cpus": False},
            "listen": {"resp": f"{self.host}:{self.resp_port}",
                       "mqtt": f"{self.host}:{self.mqtt_port}",
                       "http": f"{self.host}:{self.http_port}"},
            "lifecycle": {"drain_timeout_ms": 3000, "config_poll_ms": 0},
            "wallet": {"passphrase_file": str(self.passphrase_file), **FAST_KDF},
        }
        self.configure(wallet=wallet, **sections)
        # Extra environment for the process (e.g. CREDENTIALS_DIRECTORY); None removes a name.
        self.env: dict[str, str | None] = {"CREDENTIALS_DIRECTORY": None}
        # Headers sent with every request of .get/.post/.put/.delete (e.g. Authorization).
        self.headers: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.ever_ready = False
        self._log_mark = 0
        self.session = requests.Session()

    # ---- configuration ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def wallet_settings(self) -> dict:
        return self.settings["wallet"]

    def configure(self, wallet: dict | None = None, **sections: dict | None) -> None:
        """Merges keys into the sections (written at the next start or reload)."""
        for name, values in {"wallet": wallet, **sections}.items():
            if values:
                self.settings.setdefault(name, {}).update(copy.deepcopy(values))

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_toml(self.settings))

    # ---- process ------------------------------------------------------------------------

    def command(self) -> list[str]:
        return [self.exe, "serve", "--config", str(self.config_path)]

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self) -> None:
        assert not self.running(), "shardhub is already running"
        self.write_config()
        env = dict(os.environ)
        for k, v in self.env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        env.setdefault("RUST_BACKTRACE", "1")
        with open(self.log_path, "ab") as log:
            self._log_mark = log.tell()
            log.write(f"==> start #{self.starts + 1}: {' '.join(self.command())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.workdir, env=env)
        self.starts += 1
        # A fresh connection pool per process: no stale keep-alive sockets.
        self.session.close()
        self.session = requests.Session()

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/readyz", timeout=0.5).status_code == 200
        except requests.RequestException:
            return False

    def start(self) -> None:
        """Starts and waits for /readyz 200; raises with the log tail if it exits or is not
        ready within 15 s. Before the server has ever been ready, a port taken by someone
        else in the meantime ("Address already in use") is replaced and the start retried."""
        for attempt in range(3):
            self._spawn()
            deadline = time.monotonic() + READY_TIMEOUT_S
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    code = self.proc.returncode
                    self.proc = None
                    if (not self.ever_ready and attempt < 2
                            and "address already in use" in self.log_since_start().lower()):
                        self._new_ports()
                        break
                    raise RuntimeError(f"shardhub exited with {code} at start:\n"
                                       + self.log_tail())
                if self.ready():
                    self.ever_ready = True
                    return
                time.sleep(0.05)
            else:
                self.kill()
                raise RuntimeError(f"shardhub not ready within {READY_TIMEOUT_S:.0f} s:\n"
                                   + self.log_tail())

    def _new_ports(self) -> None:
        listen = self.settings["listen"]
        for key in ("resp", "mqtt", "http"):
            host, _, port = str(listen[key]).rpartition(":")
            new = free_port()
            listen[key] = f"{host}:{new}"
            if key == "resp":
                self.resp_port = new
            elif key == "mqtt":
                self.mqtt_port = new
            elif int(port) == self.http_port:
                self.http_port = new

    def start_expect_failure(self, timeout: float = 30.0) -> str:
        """Starts, expects the process to exit non-zero by itself; returns what it wrote
        (stderr and log) during this start. Fails the test if it becomes ready instead."""
        self._spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                text = self.log_since_start()
                assert code != 0, f"shardhub exited 0 but was expected to refuse to start:\n{text}"
                return text
            if self.ready():
                self.kill()
                raise AssertionError("shardhub started (GET /readyz 200) but was expected to "
                                     "refuse to start:\n" + self.log_since_start())
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"shardhub neither exited nor became ready in {timeout} s:\n"
                             + self.log_since_start())

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds. Returns the exit status."""
        self.session.close()
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        self.proc = None
        self._wait_port_free()
        return code

    def kill(self) -> None:
        """SIGKILL (kill -9): no shutdown path runs."""
        self.session.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self._wait_port_free()

    def restart(self) -> None:
        """Graceful stop and start on the same ports, config and data."""
        self.stop()
        self.start()

    def _wait_port_free(self) -> None:
        deadline = time.monotonic() + 5
        while port_accepts(self.host, self.http_port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def reload(self, wallet: dict | None = None, wait: float = 10.0, **sections: dict) -> None:
        """Merges `wallet` into [wallet] (and other sections), rewrites the file, sends SIGHUP
        and waits until the server logged the reload (plus a moment for the shards)."""
        assert self.running(), "shardhub is not running"
        self.configure(wallet=wallet, **sections)
        self.write_config()
        mark = self.log_path.stat().st_size
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            new = self._read_log(mark).lower()
            if "reload failed" in new:
                raise RuntimeError("shardhub refused the reloaded config:\n" + self.log_tail())
            if "reload" in new:
                break
            if not self.running():
                raise RuntimeError("shardhub exited on SIGHUP:\n" + self.log_tail())
            time.sleep(0.05)
        else:
            raise RuntimeError(f"shardhub logged no reload within {wait} s of SIGHUP:\n"
                               + self.log_tail())
        # The new settings reach every shard shortly after the sidecar logs them.
        time.sleep(0.5)

    # ---- logs ---------------------------------------------------------------------------

    def _read_log(self, offset: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_text(self) -> str:
        return self._read_log(0)

    def log_since_start(self) -> str:
        return self._read_log(self._log_mark)

    def log_tail(self, lines: int = 60) -> str:
        text = self._read_log(0)
        return "\n".join(text.splitlines()[-lines:]) if text else "(no log)"

    # ---- HTTP ---------------------------------------------------------------------------

    def request(self, method: str, path: str, json: Any = None, headers: dict | None = None,
                data: bytes | str | None = None, timeout: float = 15.0) -> requests.Response:
        h = {**self.headers, **(headers or {})}
        if json is not None and data is None:
            return self.session.request(method, self.url + path, json=json, headers=h,
                                        timeout=timeout)
        return self.session.request(method, self.url + path, data=data, headers=h,
                                    timeout=timeout)

    def get(self, path: str, json: Any = None, headers: dict | None = None,
            **kw) -> requests.Response:
        return self.request("GET", path, json=json, headers=headers, **kw)

    def post(self, path: str, json: Any = None, headers: dict | None = None,
             **kw) -> requests.Response:
        return self.request("POST", path, json=json, headers=headers, **kw)

    def put(self, path: str, json: Any = None, headers: dict | None = None,
            **kw) -> requests.Response:
        return self.request("PUT", path, json=json, headers=headers, **kw)

    def delete(self, path: str, json: Any = None, headers: dict | None = None,
               **kw) -> requests.Response:
        return self.request("DELETE", path, json=json, headers=headers, **kw)

    # ---- wallet shortcuts ---------------------------------------------------------------

    def create_wallet(self, mnemonic: str | None = None, passphrase: str | None = None,
                      headers: dict | None = None) -> str:
        body: dict = {}
        if mnemonic is not None:
            body["mnemonic"] = mnemonic
        if passphrase is not None:
            body["passphrase"] = passphrase
        r = self.post("/v1/wallets", json=body, headers=headers)
        assert r.status_code == 201, f"POST /v1/wallets -> {r.status_code} {r.text}"
        return r.json()["wallet_id"]

    def address(self, wallet_id: str, coin: str, account: int | None = None,
                change: int | None = None, index: int | None = None,
                headers: dict | None = None) -> dict:
        r = self.get(address_path(wallet_id, coin, account, change, index), headers=headers)
        assert r.status_code == 200, f"GET address {coin} -> {r.status_code} {r.text}"
        return r.json()


def address_path(wallet_id: str, coin: str | None, account: Any = None, change: Any = None,
                 index: Any = None) -> str:
    q = []
    for k, v in (("coin", coin), ("account", account), ("change", change), ("index", index)):
        if v is not None:
            q.append(f"{k}={v}")
    return f"/v1/wallets/{wallet_id}/address" + ("?" + "&".join(q) if q else "")
