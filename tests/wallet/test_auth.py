"""Who may call the wallet API (docs/wallet.md, "Authentication"): auth = "none" on
loopback only, bearer keys from a hashed key file (app and admin roles, re-read on reload),
and require_secure_channel.

Choices where the doc leaves room: an `admin` key may also use the wallet endpoints ("also
/v1/admin"); /healthz, /readyz and /v1/secure/server-key take no bearer key; a refused start
for auth = "none" off loopback names the setting ("auth") and why ("loopback" or
"listen.http").
"""

from __future__ import annotations

import hashlib
import re
import secrets
import signal
import subprocess
import time

import pytest

from wallet_server import address_path, free_port

ABANDON = "abandon " * 11 + "about"
ETH0 = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"


def key_line(name: str, role: str, key: str) -> str:
    return f"{name} {role} {hashlib.sha256(key.encode()).hexdigest()}"


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def assert_refused(r, status: int, code: str) -> None:
    assert r.status_code == status, f"{r.request.method} {r.request.url} -> {r.status_code} {r.text}"
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"], body


def test_auth_none_on_loopback(server):
    assert server.wallet_settings.get("auth", "none") == "none"
    wid = server.create_wallet(ABANDON)
    assert server.address(wid, "eth")["address"] == ETH0
    r = server.get("/v1/admin/secure-clients")
    assert r.status_code == 200 and "clients" in r.json(), r.text


APP_KEY = secrets.token_hex(16)
ADMIN_KEY = secrets.token_urlsafe(24)


@pytest.fixture
def keyed(server):
    """The server restarted with auth = "api_key" and a key file holding an app key and an
    admin key (with comments and blank lines around them)."""
    keys = server.workdir / "api_keys"
    keys.write_text("# name role sha256(key)\n\n"
                    + key_line("mobile", "app", APP_KEY) + "\n"
                    + "   # an indented comment\n"
                    + key_line("ops", "admin", ADMIN_KEY) + "\n")
    server.stop()
    server.configure(wallet={"auth": "api_key", "api_keys_file": str(keys)})
    server.start()
    server.keys_file = keys
    return server


def test_api_key_required(keyed):
    srv = keyed
    wid_path = address_path("0" * 32, "eth")
    requests_ = [("POST", "/v1/wallets", {}), ("GET", wid_path, None),
                 ("POST", f"/v1/wallets/{'0' * 32}/sign/message",
                  {"coin": "eth", "account": 0, "index": 0, "message": "x"}),
                 ("GET", "/v1/admin/secure-clients", None)]
    bad_headers = [None, bearer("wrong-" + APP_KEY), bearer(APP_KEY[:-1]), bearer(APP_KEY + "x"),
                   bearer(""), {"Authorization": f"Basic {APP_KEY}"},
                   {"Authorization": APP_KEY},
                   # The hash itself is not the key.
                   bearer(hashlib.sha256(APP_KEY.encode()).hexdigest())]
    for method, path, body in requests_:
        for h in bad_headers:
            r = srv.request(method, path, json=body, headers=h)
            assert_refused(r, 401, "unauthorized")
    # Not behind the key: probes and the secure channel's own authentication.
    assert srv.get("/healthz").status_code == 200
    assert srv.get("/readyz").status_code == 200
    assert srv.get("/v1/secure/server-key").status_code == 200


def test_401_carries_a_bearer_challenge(keyed):
    """RFC 9110 section 15.5.2 / RFC 6750 section 3: a 401 MUST carry WWW-Authenticate, here
    the Bearer scheme (beyond docs/wallet.md's letter; HTTP clients rely on it)."""
    for headers in (None, bearer("wrong")):
        r = keyed.post("/v1/wallets", json={}, headers=headers)
        assert r.status_code == 401, r.text
        challenge = r.headers.get("WWW-Authenticate", "")
        assert challenge.lower().startswith("bearer"), f"WWW-Authenticate {challenge!r}"


def test_app_key_uses_wallets_but_not_admin(keyed):
    srv = keyed
    app = bearer(APP_KEY)
    r = srv.post("/v1/wallets", json={"mnemonic": ABANDON}, headers=app)
    assert r.status_code == 201, r.text
    wid = r.json()["wallet_id"]
    assert srv.address(wid, "eth", headers=app)["address"] == ETH0
    r = srv.post(f"/v1/wallets/{wid}/sign/message", headers=app,
                 json={"coin": "eth", "account": 0, "index": 0, "message": "hi"})
    assert r.status_code == 200, r.text
    # A bad request behind a good key is still the request's fault, not the key's.
    r = srv.get(address_path(wid, "doge"), headers=app)
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_coin"
    assert_refused(srv.get("/v1/admin/secure-clients", headers=app), 403, "forbidden")
    assert_refused(srv.put("/v1/admin/secure-clients/phone-1", headers=app,
                           json={"public_key": "04" + "11" * 64}), 403, "forbidden")
    assert_refused(srv.delete("/v1/admin/secure-clients/phone-1", headers=app), 403, "forbidden")
    # Without a key the wallet is out of reach.
    assert_refused(srv.get(address_path(wid, "eth")), 401, "unauthorized")


def test_admin_key(keyed):
    srv = keyed
    admin = bearer(ADMIN_KEY)
    r = srv.get("/v1/admin/secure-clients", headers=admin)
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["clients"], list)
    # The admin role includes the wallet endpoints.
    r = srv.post("/v1/wallets", json={"mnemonic": ABANDON}, headers=admin)
    assert r.status_code == 201, r.text
    assert srv.address(r.json()["wallet_id"], "eth", headers=admin)["address"] == ETH0
    # Keys survive a restart (they are in the file, not in memory only).
    srv.restart()
    assert srv.get("/v1/admin/secure-clients", headers=admin).status_code == 200
    assert_refused(srv.get("/v1/admin/secure-clients", headers=bearer(APP_KEY)), 403,
                   "forbidden")


def test_key_file_is_reread_on_reload(keyed):
    srv = keyed
    new_key = secrets.token_hex(20)
    assert_refused(srv.post("/v1/wallets", json={}, headers=bearer(new_key)), 401,
                   "unauthorized")
    original = srv.keys_file.read_text()
    srv.keys_file.write_text(original + key_line("tablet", "app", new_key) + "\n")
    srv.reload()  # the config file is the same; only the key file changed
    r = srv.post("/v1/wallets", json={}, headers=bearer(new_key))
    assert r.status_code == 201, f"a key added to the file and reloaded is refused: {r.text}"
    wid = r.json()["wallet_id"]
    # Promote it to admin.
    srv.keys_file.write_text(original + key_line("tablet", "admin", new_key) + "\n")
    srv.reload()
    assert srv.get("/v1/admin/secure-clients", headers=bearer(new_key)).status_code == 200
    # Remove it, and the app key too: both are refused; the admin key still works.
    srv.keys_file.write_text(key_line("ops", "admin", ADMIN_KEY) + "\n")
    srv.reload()
    assert_refused(srv.get(address_path(wid, "eth"), headers=bearer(new_key)), 401,
                   "unauthorized")
    assert_refused(srv.post("/v1/wallets", json={}, headers=bearer(APP_KEY)), 401,
                   "unauthorized")
    assert srv.address(wid, "eth", headers=bearer(ADMIN_KEY))["address"]
    # A new key file named by a reload of the config.
    other = srv.workdir / "api_keys.2"
    other.write_text(key_line("mobile", "app", APP_KEY) + "\n")
    srv.reload(wallet={"api_keys_file": str(other)})
    assert srv.post("/v1/wallets", json={}, headers=bearer(APP_KEY)).status_code == 201
    assert_refused(srv.post("/v1/wallets", json={}, headers=bearer(ADMIN_KEY)), 401,
                   "unauthorized")


@pytest.mark.wallet_config(wallet={"require_secure_channel": True})
def test_require_secure_channel(server):
    def plain_refused():
        assert_refused(server.post("/v1/wallets", json={"mnemonic": ABANDON}), 403,
                       "secure_channel_required")
        assert_refused(server.get(address_path("0" * 32, "eth")), 403, "secure_channel_required")
        assert_refused(server.post(f"/v1/wallets/{'0' * 32}/sign/eth", json={}), 403,
                       "secure_channel_required")
        assert_refused(server.post(f"/v1/wallets/{'0' * 32}/sign/btc", json={}), 403,
                       "secure_channel_required")
        assert_refused(server.post(f"/v1/wallets/{'0' * 32}/sign/message", json={}), 403,
                       "secure_channel_required")
        # The secure channel itself stays open.
        r = server.get("/v1/secure/server-key")
        assert r.status_code == 200 and {"public_key", "id"} <= set(r.json()), r.text
    plain_refused()
    server.reload(wallet={"require_secure_channel": False})
    wid = server.create_wallet(ABANDON)
    assert server.address(wid, "eth")["address"] == ETH0
    server.reload(wallet={"require_secure_channel": True})
    plain_refused()
    assert_refused(server.get(address_path(wid, "eth")), 403, "secure_channel_required")
    server.reload(wallet={"require_secure_channel": False})
    assert server.address(wid, "eth")["address"] == ETH0


@pytest.mark.wallet_config(start=False)
def test_auth_none_refuses_a_non_loopback_listener(server):
    port = free_port()
    server.configure(listen={"http": f"0.0.0.0:{port}"})
    server.http_port = port
    text = server.start_expect_failure()
    low = text.lower()
    assert "auth" in low and ("loopback" in low or "listen.http" in low), (
        f"the refusal should name wallet.auth and the non-loopback listener:\n{text}")
    # The same listener with bearer keys is fine.
    keys = server.workdir / "api_keys"
    keys.write_text(key_line("mobile", "app", APP_KEY) + "\n")
    server.configure(wallet={"auth": "api_key", "api_keys_file": str(keys)})
    server.start()
    assert_refused(server.post("/v1/wallets", json={}), 401, "unauthorized")
    assert server.post("/v1/wallets", json={}, headers=bearer(APP_KEY)).status_code == 201


def test_api_key_command(server, tmp_path):
    """`shardhub api-key NAME ROLE` prints a new key and its key-file line; the line lets
    exactly that key in, with that role. A role other than app/admin is refused."""
    made = {}
    for name, role in (("phone", "app"), ("ops", "admin")):
        p = subprocess.run([server.exe, "api-key", name, role], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 0, p.stderr
        out = p.stdout + "\n" + p.stderr
        lines = [ln.strip() for ln in out.splitlines()
                 if re.fullmatch(rf"{name} {role} [0-9a-f]{{64}}", ln.strip())]
        assert len(lines) == 1, f"no `{name} {role} <sha256>` line in:\n{out}"
        digest = lines[0].split()[2]
        keys = [t for t in out.split() if hashlib.sha256(t.encode()).hexdigest() == digest]
        assert len(keys) == 1, f"no printed key hashes to {digest}:\n{out}"
        key = keys[0]
        assert len(key) >= 22, f"a key of 128 bits or more, not {key!r}"
        made[role] = (lines[0], key)
    again = subprocess.run([server.exe, "api-key", "phone", "app"], capture_output=True,
                           text=True, timeout=30)
    assert made["app"][1] not in again.stdout + again.stderr, "the same key twice"
    bad = subprocess.run([server.exe, "api-key", "eve", "root"], capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode != 0
    keys_file = tmp_path / "keys"
    keys_file.write_text(made["app"][0] + "\n" + made["admin"][0] + "\n")
    server.stop()
    server.configure(wallet={"auth": "api_key", "api_keys_file": str(keys_file)})
    server.start()
    app, admin = bearer(made["app"][1]), bearer(made["admin"][1])
    assert server.post("/v1/wallets", json={}, headers=app).status_code == 201
    assert_refused(server.get("/v1/admin/secure-clients", headers=app), 403, "forbidden")
    assert server.get("/v1/admin/secure-clients", headers=admin).status_code == 200


def test_auth_mode_changes_at_restart_only(server):
    """wallet.auth is a restart key: a reload that sets api_key leaves the running server
    open (and says a restart is needed); the restart applies it."""
    keys = server.workdir / "api_keys"
    keys.write_text(key_line("mobile", "app", APP_KEY) + "\n")
    server.reload(wallet={"auth": "api_key", "api_keys_file": str(keys)})
    assert server.post("/v1/wallets", json={}).status_code == 201
    assert "restart" in server.log_since_start().lower()
    server.restart()
    assert_refused(server.post("/v1/wallets", json={}), 401, "unauthorized")
    assert server.post("/v1/wallets", json={}, headers=bearer(APP_KEY)).status_code == 201


def test_a_key_with_an_unknown_role_grants_nothing(server):
    """A key-file line whose role is neither app nor admin never authorizes: the server
    either refuses to start on that file or starts and answers 401 to that key."""
    keys = server.workdir / "api_keys"
    eve = secrets.token_hex(16)
    keys.write_text(key_line("mobile", "app", APP_KEY) + "\n" + key_line("eve", "root", eve)
                    + "\n")
    server.stop()
    server.configure(wallet={"auth": "api_key", "api_keys_file": str(keys)})
    try:
        server.start()
    except RuntimeError as e:
        assert "api_keys" in str(e) or "role" in str(e).lower(), str(e)
        return
    for path in ("/v1/wallets", "/v1/admin/secure-clients"):
        r = server.get(path, headers=bearer(eve))
        assert r.status_code in (401, 405), r.text
        assert server.post("/v1/wallets", json={}, headers=bearer(eve)).status_code == 401
    assert server.post("/v1/wallets", json={}, headers=bearer(APP_KEY)).status_code == 201


def test_missing_key_file_lets_nobody_in(server):
    """auth = "api_key" whose api_keys_file does not exist (or is not set): a refused start,
    or a server that answers 401 to every key."""
    for keys_file in (str(server.workdir / "no-such-file"), ""):
        server.stop()
        server.configure(wallet={"auth": "api_key", "api_keys_file": keys_file})
        try:
            server.start()
        except RuntimeError:
            continue
        assert_refused(server.post("/v1/wallets", json={}, headers=bearer(APP_KEY)), 401,
                       "unauthorized")
        assert_refused(server.post("/v1/wallets", json={}), 401, "unauthorized")


def test_broken_key_file_on_reload_keeps_the_server_up(keyed):
    """A key file broken between reloads (an unknown role, a short hash) neither stops the
    server nor lets the bad lines' keys in; fixed and reloaded, keys work again."""
    srv = keyed
    eve = secrets.token_hex(16)
    good = srv.keys_file.read_text()
    srv.keys_file.write_text(good + key_line("eve", "root", eve) + "\nshort app abcd\n")
    mark = srv.log_path.stat().st_size
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "reload" not in srv._read_log(mark).lower() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert srv.running(), "a bad key file on reload stopped the server"
    assert srv.get("/healthz").status_code == 200
    assert_refused(srv.post("/v1/wallets", json={}, headers=bearer(eve)), 401, "unauthorized")
    new_key = secrets.token_hex(16)
    srv.keys_file.write_text(good + key_line("tablet", "app", new_key) + "\n")
    srv.reload()
    assert srv.post("/v1/wallets", json={}, headers=bearer(new_key)).status_code == 201
    assert srv.post("/v1/wallets", json={}, headers=bearer(APP_KEY)).status_code == 201
