"""Helpers for the device shadow tests (MQTT and HTTP)."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from clients import Client

REPLY_FILTERS = ["update/+", "get/+", "delete/+"]


class MqttShadow:
    """One device's shadow over MQTT: requests on $shadow/{device}/{op}, replies collected
    from $shadow/{device}/{op}/{accepted,rejected,delta,documents}."""

    def __init__(self, client: Client, device: str):
        self.c, self.device = client, device
        self.prefix = f"$shadow/{device}"
        for f in REPLY_FILTERS:
            assert client.subscribe(f"{self.prefix}/{f}", qos=1) == [1]

    def request(self, op: str, body: Any = b"", want: tuple[str, ...] = (), settle: float = 0.3,
                timeout: float = 5.0) -> dict[str, Any]:
        """Publishes a request and returns {reply suffix: parsed JSON} once every suffix in
        `want` arrived (plus `settle` seconds for any other reply)."""
        payload = body if isinstance(body, (bytes, str)) else json.dumps(body)
        self.c.publish(f"{self.prefix}/{op}", payload, qos=1)
        return self.collect(want, settle, timeout)

    def collect(self, want: tuple[str, ...] = (), settle: float = 0.3,
                timeout: float = 5.0) -> dict[str, Any]:
        replies: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while not all(w in replies for w in want):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"wanted {want}, got {sorted(replies)}"
            self._take(replies, remaining)
        for m in self.c.drain(settle):
            self._add(replies, m)
        return replies

    def _take(self, replies, timeout):
        try:
            m = self.c.messages.get(timeout=timeout)
        except Exception:
            return
        self._add(replies, m)

    def _add(self, replies, m):
        suffix = m.topic[len(self.prefix) + 1:]
        assert suffix not in replies, f"two replies on {m.topic}"
        try:
            replies[suffix] = json.loads(m.payload)
        except ValueError as e:
            raise AssertionError(f"reply on {m.topic} is not JSON: {m.payload!r}") from e

    def update(self, state: dict | None = None, want=("update/accepted",), **top) -> dict:
        body = dict(top)
        if state is not None:
            body["state"] = state
        return self.request("update", body, want)

    def get(self, want=("get/accepted",), body: Any = b"") -> dict:
        return self.request("get", body, want)

    def delete(self, want=("delete/accepted",), body: Any = b"") -> dict:
        return self.request("delete", body, want)


class HttpShadow:
    """The same shadow over HTTP: GET, PATCH, DELETE /v1/shadows/{device}."""

    def __init__(self, base_url: str, device: str):
        self.url = f"{base_url}/v1/shadows/{device}"

    def get(self) -> requests.Response:
        return requests.get(self.url, timeout=5)

    def patch(self, body: Any) -> requests.Response:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return requests.patch(self.url, data=data, timeout=5,
                              headers={"content-type": "application/json"})

    def delete(self) -> requests.Response:
        return requests.delete(self.url, timeout=5)


def check_rejected(doc: dict, code: int) -> None:
    """A `.../rejected` body: {"code", "message", ...}."""
    assert doc.get("code") == code, doc
    assert isinstance(doc.get("message"), str) and doc["message"], doc


def check_timestamps(meta: Any, at_least: int) -> None:
    """Every leaf of a metadata tree is {"timestamp": seconds} (AWS: an object's metadata has
    its shape, an array's metadata is an array)."""
    if isinstance(meta, dict) and set(meta) == {"timestamp"}:
        assert isinstance(meta["timestamp"], int) and meta["timestamp"] >= at_least, meta
        return
    assert isinstance(meta, (dict, list)), meta
    for v in (meta.values() if isinstance(meta, dict) else meta):
        check_timestamps(v, at_least)
