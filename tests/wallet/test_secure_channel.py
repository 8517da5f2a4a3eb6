"""The wallet's secure channel (docs/secure-channel.md) against a real shardhub, spoken by the
independent Python client of sm_channel.py.

Each test gets its own server from conftest's `server` fixture, configured by its
`wallet_config` marker. Run from the repository root:

    SHARDHUB_BIN=target/debug/shardhub target/pyenv/bin/python -m pytest tests/wallet/test_secure_channel.py
"""

import json
import re
import secrets
import time

import pytest
import requests

import sm_channel as sc

# Two registered clients, fresh keys per run.
ALICE_D, ALICE_PUB = sc.generate_key()
BOB_D, BOB_PUB = sc.generate_key()
ALICE = {"id": "alice-phone", "public_key": ALICE_PUB}
BOB = {"id": "bob-tablet", "public_key": BOB_PUB}

ABANDON = " ".join(["abandon"] * 11 + ["about"])
ABANDON_ETH_0 = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"  # m/44'/60'/0'/0/0
LEGACY_TX = {
    "type": 0,
    "chain_id": 1,
    "nonce": 9,
    "gas_price": "20000000000",
    "gas_limit": 21000,
    "to": "0x3535353535353535353535353535353535353535",
    "value": "1000000000000000000",
    "data": "",
}
EIP1559_TX = {
    "type": 2,
    "chain_id": "0x1",
    "nonce": 0,
    "max_fee_per_gas": "30000000000",
    "max_priority_fee_per_gas": "1000000000",
    "gas_limit": 21000,
    "to": "0x9858EfFD232B4033E47d90003D41EC34EcaEda94",
    "value": 12345,
}


def channel(server, who=ALICE, d=ALICE_D, user_id="alice@example.com"):
    return sc.SecureClient(server.url, who["id"], user_id, d)


def plain(method, server, path, body=None):
    response = requests.request(method, server.url + path, json=body, timeout=15)
    return response.status_code, (response.json() if response.content else None)


def error_of(response):
    """(status, error code) of a plain channel-level answer."""
    try:
        return response.status_code, response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return response.status_code, f"<not an error body: {response.text!r}>"


def refused(excinfo):
    return excinfo.value.status, excinfo.value.code


def request_plaintext(method, path, body=None):
    return sc.compact_json({"method": method, "path": path, "body": body})


def address_path(wallet_id, index=0):
    return f"/v1/wallets/{wallet_id}/address?coin=eth&account=0&index={index}"


# --- The whole exchange ----------------------------------------------------------------------


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_handshake_confirm_and_wallet_calls_match_the_plain_endpoints(server):
    key = requests.get(server.url + "/v1/secure/server-key", timeout=15)
    assert key.status_code == 200, key.text
    assert key.json()["id"] == "shardhub"
    assert re.fullmatch("04[0-9a-f]{128}", key.json()["public_key"])
    sc.point_from_hex(key.json()["public_key"])  # on the curve

    client = channel(server)
    client.handshake()
    assert re.fullmatch("[0-9a-f]{32}", client.session), client.session

    status, created = client.call("POST", "/v1/wallets", {"mnemonic": ABANDON})
    assert status == 201, created
    wallet_id = created["wallet_id"]
    assert re.fullmatch("[0-9a-f]{32}", wallet_id)

    status, address = client.call("GET", address_path(wallet_id))
    assert status == 200, address
    assert address["address"] == ABANDON_ETH_0
    assert address["path"] == "m/44'/60'/0'/0/0"
    assert plain("GET", server, address_path(wallet_id)) == (200, address)

    for tx in (LEGACY_TX, EIP1559_TX):
        body = {"account": 0, "index": 0, "tx": tx}
        status, signed = client.call("POST", f"/v1/wallets/{wallet_id}/sign/eth", body)
        assert status == 200, signed
        assert signed["from"] == ABANDON_ETH_0
        assert plain("POST", server, f"/v1/wallets/{wallet_id}/sign/eth", body) == (200, signed)

    # An error of the wallet endpoint comes back inside an accepted record.
    status, body = client.call("GET", address_path("0" * 32))
    assert status == 404 and body["error"]["code"] == "unknown_wallet", body
    status, body = client.call("GET", f"/v1/wallets/{wallet_id}/address?coin=doge")
    assert status == 400 and body["error"]["code"] == "unknown_coin", body
    assert client.next_seq == 7


@pytest.mark.wallet_config(wallet={"clients": [ALICE], "server_id": "vault.example.org"})
def test_the_configured_server_id_is_z_b(server):
    client = channel(server)
    assert client.fetch_server_key()["id"] == "vault.example.org"
    client.handshake()  # S_B checks only if the server hashed that id into Z_B
    assert client.call("POST", "/v1/wallets", {})[0] == 201


@pytest.mark.wallet_config(wallet={"clients": [ALICE, BOB]})
def test_sessions_are_independent(server):
    alice, bob, alice_again = channel(server), channel(server, BOB, BOB_D, "bob@example.com"), channel(server)
    for client in (alice, bob, alice_again):
        client.handshake()
    assert len({alice.session, bob.session, alice_again.session}) == 3
    assert len({alice.keys, bob.keys, alice_again.keys}) == 3
    wallet_id = alice.call("POST", "/v1/wallets", {"mnemonic": ABANDON})[1]["wallet_id"]
    assert bob.call("GET", address_path(wallet_id))[1]["address"] == ABANDON_ETH_0
    # A record of one session sent into another fails its tag there.
    seq = bob.next_seq
    forged = alice.seal(seq, request_plaintext("GET", address_path(wallet_id)))
    assert error_of(bob.post_record(seq, forged)) == (400, "record_authentication_failed")
    assert alice_again.call("GET", address_path(wallet_id))[0] == 200


# --- Handshake refusals ----------------------------------------------------------------------


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_an_unknown_client_is_refused(server):
    stranger_d, _ = sc.generate_key()
    client = sc.SecureClient(server.url, "mallory", "mallory@example.com", stranger_d)
    with pytest.raises(sc.ChannelError) as excinfo:
        client.handshake()
    assert refused(excinfo) == (403, "unknown_client")
    # A registered name with another key gets a handshake answer whose S_B cannot check out.
    impostor = sc.SecureClient(server.url, ALICE["id"], "alice@example.com", stranger_d)
    with pytest.raises(sc.ConfirmationError):
        impostor.handshake()


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_a_wrong_s_a_is_refused_and_the_session_dropped(server):
    client = channel(server)
    client.start()
    wrong = bytearray(client.s_a)
    wrong[0] ^= 0x01
    assert error_of(client.confirm(wrong.hex())) == (403, "key_confirmation_failed")
    assert error_of(client.confirm()) == (404, "unknown_session")
    assert error_of(client.post_record(1, client.seal(1, request_plaintext("POST", "/v1/wallets", {})))) == (
        404,
        "unknown_session",
    )


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_a_record_before_confirm_is_409(server):
    client = channel(server)
    client.start()
    record = client.seal(1, request_plaintext("POST", "/v1/wallets", {}))
    assert error_of(client.post_record(1, record)) == (409, "session_not_confirmed")
    assert client.confirm().status_code == 204
    client.next_seq = 2  # seq 1 sealed a plaintext already: never seal another under it
    assert client.call("POST", "/v1/wallets", {})[0] == 201


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_a_bad_ephemeral_key_is_400(server):
    off_curve, compressed = "04" + "00" * 64, "02" + sc.point_to_hex(sc.SM2.g)[2:66]
    for bad in (off_curve, compressed, "zz", ""):
        response = requests.post(
            server.url + "/v1/secure/handshake",
            json={"client_id": ALICE["id"], "id": "alice@example.com", "ephemeral_key": bad},
            timeout=15,
        )
        assert response.status_code == 400, (bad, response.status_code, response.text)
        if bad in (off_curve, compressed):
            assert error_of(response) == (400, "invalid_public_key")


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_a_second_confirm_is_409(server):
    client = channel(server)
    client.handshake()
    assert error_of(client.confirm()) == (409, "session_already_confirmed")
    assert client.call("POST", "/v1/wallets", {})[0] == 201


# --- Records ---------------------------------------------------------------------------------


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_replayed_and_lower_seq_are_stale(server):
    client = channel(server)
    client.handshake()
    request = request_plaintext("POST", "/v1/wallets", {})
    first = client.seal(1, request)
    assert client.post_record(1, first).status_code == 200
    assert error_of(client.post_record(1, first)) == (409, "stale_seq")  # replay
    client.next_seq = 5  # gaps are allowed
    assert client.call("POST", "/v1/wallets", {})[0] == 201
    assert error_of(client.post_record(3, client.seal(3, request))) == (409, "stale_seq")  # lower
    assert error_of(client.post_record(5, client.seal(5, request))) == (409, "stale_seq")  # equal
    assert error_of(client.post_record(0, client.seal(0, request))) == (409, "stale_seq")  # zero
    assert client.call("POST", "/v1/wallets", {})[0] == 201
    assert client.next_seq == 7


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_a_flipped_bit_is_400_and_does_not_advance_seq(server):
    client = channel(server)
    client.handshake()
    wallet_id = client.call("POST", "/v1/wallets", {"mnemonic": ABANDON})[1]["wallet_id"]
    record = client.seal(2, request_plaintext("GET", address_path(wallet_id)))
    for position in (0, len(record) // 2, len(record) - 1):  # ciphertext, ..., tag
        flipped = bytearray(record)
        flipped[position] ^= 0x04
        assert error_of(client.post_record(2, bytes(flipped))) == (400, "record_authentication_failed")
    assert error_of(client.post_record(2, record[:-1])) == (400, "record_authentication_failed")
    assert error_of(client.post_record(3, record)) == (400, "record_authentication_failed")  # sealed for 2
    # The genuine seq 2 still goes through: the forgeries advanced nothing.
    response = client.post_record(2, record)
    assert response.status_code == 200, response.text
    assert response.json()["seq"] == 2
    answer = json.loads(client.open(2, bytes.fromhex(response.json()["ct"])))
    assert answer["status"] == 200 and answer["body"]["address"] == ABANDON_ETH_0


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_pretty_json_and_the_largest_seq_are_accepted(server):
    client = channel(server)
    client.handshake()
    pretty = json.dumps({"method": "POST", "path": "/v1/wallets", "body": {}}, indent=2).encode()
    response = client.post_record(1, client.seal(1, pretty))
    assert response.status_code == 200, response.text
    assert json.loads(client.open(1, bytes.fromhex(response.json()["ct"])))["status"] == 201
    last = 2**64 - 1
    client.next_seq = last
    assert client.call("POST", "/v1/wallets", {})[0] == 201
    request = request_plaintext("POST", "/v1/wallets", {})
    assert error_of(client.post_record(last, client.seal(last, request))) == (409, "stale_seq")


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_only_wallet_endpoints_are_reachable_inside(server):
    client = channel(server)
    client.handshake()
    for path in ("/v1/admin/secure-clients", "/v1/secure/server-key", "/healthz"):
        status, body = client.call("GET", path)
        assert (status, body["error"]["code"]) == (404, "not_found"), (path, body)
    assert client.call("POST", "/v1/wallets", {})[0] == 201


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_an_unknown_session_is_404(server):
    nobody = secrets.token_hex(16)
    response = requests.post(f"{server.url}/v1/secure/{nobody}", json={"seq": 1, "ct": "00" * 32}, timeout=15)
    assert error_of(response) == (404, "unknown_session")
    response = requests.post(f"{server.url}/v1/secure/{nobody}/confirm", json={"confirm": "00" * 32}, timeout=15)
    assert error_of(response) == (404, "unknown_session")


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_malformed_record_bodies_are_400(server):
    client = channel(server)
    client.handshake()
    url = f"{server.url}/v1/secure/{client.session}"
    for body in ({"seq": "1", "ct": "00" * 20}, {"ct": "00" * 20}, {"seq": 1}, {"seq": 1, "ct": "xyz"}):
        response = requests.post(url, json=body, timeout=15)
        assert response.status_code == 400, (body, response.text)
        assert error_of(response)[1] in ("bad_json", "bad_hex"), (body, response.text)
    assert client.call("POST", "/v1/wallets", {})[0] == 201  # the session is unharmed


# --- Clients, sessions, settings --------------------------------------------------------------


@pytest.mark.wallet_config(wallet={})
def test_an_admin_registered_client_works_until_deleted(server):
    response = requests.put(
        f"{server.url}/v1/admin/secure-clients/{BOB['id']}", json={"public_key": BOB_PUB}, timeout=15
    )
    assert response.status_code == 204, response.text
    listed = requests.get(f"{server.url}/v1/admin/secure-clients", timeout=15).json()["clients"]
    assert [(c["client_id"], c["public_key"]) for c in listed] == [(BOB["id"], BOB_PUB)]

    client = channel(server, BOB, BOB_D, "bob@example.com")
    client.handshake()
    assert client.call("POST", "/v1/wallets", {})[0] == 201

    response = requests.delete(f"{server.url}/v1/admin/secure-clients/{BOB['id']}", timeout=15)
    assert response.status_code == 204, response.text
    with pytest.raises(sc.ChannelError) as excinfo:
        client.call("POST", "/v1/wallets", {})
    assert refused(excinfo) == (404, "unknown_session")
    with pytest.raises(sc.ChannelError) as excinfo:
        channel(server, BOB, BOB_D, "bob@example.com").handshake()
    assert refused(excinfo) == (403, "unknown_client")


@pytest.mark.wallet_config(wallet={})
def test_an_admin_registered_client_survives_a_restart_but_sessions_do_not(server):
    response = requests.put(
        f"{server.url}/v1/admin/secure-clients/{BOB['id']}", json={"public_key": BOB_PUB}, timeout=15
    )
    assert response.status_code == 204, response.text
    client = channel(server, BOB, BOB_D, "bob@example.com")
    client.handshake()
    server_key = client.server_key
    server.restart()
    with pytest.raises(sc.ChannelError) as excinfo:
        client.call("POST", "/v1/wallets", {})
    assert refused(excinfo) == (404, "unknown_session")
    again = channel(server, BOB, BOB_D, "bob@example.com")
    again.handshake()
    assert again.server_key == server_key  # the keystore kept the server's key
    assert again.call("POST", "/v1/wallets", {})[0] == 201


@pytest.mark.wallet_config(wallet={"clients": [ALICE], "sessions_per_client_max": 2})
def test_a_third_session_evicts_the_oldest(server):
    first, second, third = channel(server), channel(server), channel(server)
    for client in (first, second, third):
        client.handshake()
    with pytest.raises(sc.ChannelError) as excinfo:
        first.call("POST", "/v1/wallets", {})
    assert refused(excinfo) == (404, "unknown_session")
    assert second.call("POST", "/v1/wallets", {})[0] == 201
    assert third.call("POST", "/v1/wallets", {})[0] == 201


@pytest.mark.wallet_config(wallet={"clients": [ALICE], "sessions_per_client_max": 2})
def test_handshakes_alone_never_evict_a_confirmed_session(server):
    """Client ids are not secret: handshakes from someone without the client's key only push
    out each other; a confirm (which proves the key) is what evicts a confirmed session."""
    confirmed = channel(server)
    confirmed.handshake()
    pending = [channel(server) for _ in range(3)]
    for client in pending:
        client.start()
    assert confirmed.call("POST", "/v1/wallets", {})[0] == 201
    assert pending[0].confirm().status_code == 404  # the oldest unconfirmed one made way
    assert pending[2].confirm().status_code == 204  # two confirmed: at the cap
    assert pending[2].call("POST", "/v1/wallets", {})[0] == 201
    assert confirmed.call("POST", "/v1/wallets", {})[0] == 201
    assert pending[1].confirm().status_code == 204  # evicts the least recently used
    with pytest.raises(sc.ChannelError) as excinfo:
        pending[2].call("POST", "/v1/wallets", {})
    assert refused(excinfo) == (404, "unknown_session")
    for client in (confirmed, pending[1]):
        assert client.call("POST", "/v1/wallets", {})[0] == 201


@pytest.mark.wallet_config(wallet={"clients": [ALICE, BOB], "sessions_per_client_max": 2})
def test_eviction_takes_the_least_recently_used_of_that_client(server):
    first, second = channel(server), channel(server)
    first.handshake()
    second.handshake()
    bob = channel(server, BOB, BOB_D, "bob@example.com")
    bob.handshake()  # another client's session counts against its own cap only
    assert first.call("POST", "/v1/wallets", {})[0] == 201  # first is now the most recent
    channel(server).handshake()
    with pytest.raises(sc.ChannelError) as excinfo:
        second.call("POST", "/v1/wallets", {})
    assert refused(excinfo) == (404, "unknown_session")
    assert first.call("POST", "/v1/wallets", {})[0] == 201
    assert bob.call("POST", "/v1/wallets", {})[0] == 201


@pytest.mark.wallet_config(wallet={"clients": [ALICE], "session_idle_secs": 1})
def test_an_idle_session_expires(server):
    idle, busy = channel(server), channel(server)
    idle.handshake()
    busy.handshake()
    assert idle.call("POST", "/v1/wallets", {})[0] == 201
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:  # use keeps a session alive
        assert busy.call("POST", "/v1/wallets", {})[0] == 201
        time.sleep(0.25)
    with pytest.raises(sc.ChannelError) as excinfo:
        idle.call("POST", "/v1/wallets", {})
    assert refused(excinfo) == (404, "unknown_session")
    assert busy.call("POST", "/v1/wallets", {})[0] == 201


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_hot_reload_of_the_clients_list(server):
    alice = channel(server)
    alice.handshake()
    with pytest.raises(sc.ChannelError) as excinfo:
        channel(server, BOB, BOB_D, "bob@example.com").handshake()
    assert refused(excinfo) == (403, "unknown_client")

    server.reload(wallet={"clients": [BOB]})
    bob = channel(server, BOB, BOB_D, "bob@example.com")
    bob.handshake()
    assert bob.call("POST", "/v1/wallets", {})[0] == 201
    with pytest.raises(sc.ChannelError) as excinfo:
        alice.call("POST", "/v1/wallets", {})
    assert refused(excinfo) == (404, "unknown_session")
    with pytest.raises(sc.ChannelError) as excinfo:
        channel(server).handshake()
    assert refused(excinfo) == (403, "unknown_client")

    server.reload(wallet={"clients": [ALICE, BOB]})
    alice = channel(server)
    alice.handshake()
    assert alice.call("POST", "/v1/wallets", {})[0] == 201
    assert bob.call("POST", "/v1/wallets", {})[0] == 201


@pytest.mark.wallet_config(wallet={"clients": [ALICE], "require_secure_channel": True})
def test_require_secure_channel_closes_the_plain_endpoints_only(server):
    status, body = plain("POST", server, "/v1/wallets", {"mnemonic": ABANDON})
    assert (status, body["error"]["code"]) == (403, "secure_channel_required")
    client = channel(server)
    client.handshake()
    status, created = client.call("POST", "/v1/wallets", {"mnemonic": ABANDON})
    assert status == 201, created
    wallet_id = created["wallet_id"]
    status, body = plain("GET", server, address_path(wallet_id))
    assert (status, body["error"]["code"]) == (403, "secure_channel_required")
    assert client.call("GET", address_path(wallet_id))[1]["address"] == ABANDON_ETH_0

    server.reload(wallet={"require_secure_channel": False})
    assert plain("GET", server, address_path(wallet_id))[1]["address"] == ABANDON_ETH_0
    assert client.call("GET", address_path(wallet_id))[0] == 200


@pytest.mark.wallet_config(wallet={"clients": [ALICE]})
def test_the_admin_endpoint_does_not_override_a_config_client(server):
    """A 204 here would let an operator believe a compromised key was replaced while the
    config's entry kept working."""
    path = f"/v1/admin/secure-clients/{ALICE['id']}"
    for r in (server.put(path, json={"public_key": ALICE["public_key"]}), server.delete(path)):
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "client_in_config", r.text
    assert channel(server).handshake()
