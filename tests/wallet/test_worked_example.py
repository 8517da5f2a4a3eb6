"""Offline checks of the independent Python client (sm_channel.py), no server needed:

- it reproduces every value of docs/secure-channel.md's worked example, read from the page's
  `worked-example` block (the same block crypto/src/gm/worked_example.rs checks the server's
  code against), including the bytes SecureClient puts on the wire;
- its primitives pass the SM2, SM3 and SM4 known answers of crypto/testdata/wallet-vectors.json
  and Wycheproof's SM4-GCM cases.

Run (no server needed; --noconftest leaves out the live suite's fixtures):
    target/pyenv/bin/python -m pytest --noconftest tests/wallet/test_worked_example.py
"""

import json
import struct
from pathlib import Path

import pytest

import sm_channel as sc

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "secure-channel.md"
TESTDATA = ROOT / "crypto" / "testdata"
FENCE = "```worked-example\n"


def read_block():
    """The page's worked-example block: {name: value} in order, by the page's format rules."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(FENCE) + len(FENCE)
    end = text.index("\n```", start)
    values = {}
    last = None
    for line in text[start:end].splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if " = " in stripped:
            name, value = (part.strip() for part in stripped.split(" = ", 1))
            assert name not in values, f"{name} appears twice"
            values[name] = value
            last = name
        else:
            assert line.startswith(" "), f"not `name = hex` nor a continuation: {line!r}"
            values[last] += stripped
    return values


class Example:
    """The block, recording which values were checked."""

    def __init__(self):
        self.values = read_block()
        self.read = set()

    def text(self, name):
        self.read.add(name)
        return self.values[name]

    def hex(self, name):
        value = self.text(name)
        assert value == value.lower(), f"{name} is not lower-case hex"
        return bytes.fromhex(value)

    def int(self, name):
        return int.from_bytes(self.hex(name), "big")

    def check(self, name, actual):
        assert actual == self.hex(name), f"{name}: computed {actual.hex()}"

    def assert_all_read(self):
        unread = [name for name in self.values if name not in self.read]
        assert not unread, f"values in the page that nothing checks: {unread}"


def fe(value, size=32):
    return value.to_bytes(size, "big")


def test_every_value_of_the_worked_example():
    ex = Example()
    curve = sc.SM2
    id_a, id_b = ex.hex("ID_A").decode(), ex.hex("ID_B").decode()
    d_a, d_b, r_a, r_b = ex.int("d_A"), ex.int("d_B"), ex.int("r_A"), ex.int("r_B")
    session = ex.text("session")
    assert len(session) == 32 and all(c in "0123456789abcdef" for c in session)

    p_a, p_b = curve.mul(d_a), curve.mul(d_b)
    ex.check("P_A", curve.point_to_bytes(p_a))
    ex.check("P_B", curve.point_to_bytes(p_b))
    z_a, z_b = sc.z_value(id_a, p_a), sc.z_value(id_b, p_b)
    ex.check("Z_A", z_a)
    ex.check("Z_B", z_b)
    ra, rb = curve.mul(r_a), curve.mul(r_b)
    ex.check("R_A", curve.point_to_bytes(ra))
    ex.check("R_B", curve.point_to_bytes(rb))
    ex.check("x1_bar", fe(sc.x_bar(ra[0]), 16))
    ex.check("x2_bar", fe(sc.x_bar(rb[0]), 16))

    t_a, u = sc.shared_point(d_a, r_a, ra, p_b, rb)
    t_b, v = sc.shared_point(d_b, r_b, rb, p_a, ra)
    ex.check("t_A", fe(t_a))
    ex.check("t_B", fe(t_b))
    assert u == v
    ex.check("U", fe(u[0]) + fe(u[1]))
    kdf_input = fe(u[0]) + fe(u[1]) + z_a + z_b
    ex.check("kdf_input", kdf_input)
    k, s_b, s_a = sc.exchange_outputs(u, z_a, z_b, ra, rb)
    ex.check("K", k)
    assert k == sc.sm3(kdf_input + b"\x00\x00\x00\x01") == sc.kdf(kdf_input, 32)
    inner = sc.sm3(fe(u[0]) + z_a + z_b + fe(ra[0]) + fe(ra[1]) + fe(rb[0]) + fe(rb[1]))
    ex.check("S_inner", inner)
    assert s_b == sc.sm3(b"\x02" + fe(u[1]) + inner)
    ex.check("S_B", s_b)
    ex.check("S_A", s_a)

    # The initiator as a client runs it: S_B checked, (K, S_A) out.
    initiator = sc.Initiator(d_a, id_a, p_b, id_b, r_a)
    assert initiator.ephemeral == ra
    assert initiator.finish(rb, s_b) == (k, s_a)

    seq = struct.unpack(">Q", ex.hex("seq"))[0]
    assert seq == 1
    for prefix, direction, key in (
        ("request", sc.CLIENT_TO_SERVER, k[:16]),
        ("response", sc.SERVER_TO_CLIENT, k[16:]),
    ):
        ex.check(f"{prefix}_nonce", sc.record_nonce(direction, seq))
        ex.check(f"{prefix}_aad", sc.record_aad(session, seq))
        plaintext = ex.hex(f"{prefix}_plaintext")
        record = sc.seal_record(key, direction, session, seq, plaintext)
        ex.check(f"{prefix}_record", record)
        assert sc.open_record(key, direction, session, seq, record) == plaintext

    request = json.loads(ex.hex("request_plaintext"))
    assert request["method"] == "GET" and request["path"].startswith("/v1/wallets/") and request["body"] is None
    assert sc.compact_json(request) == ex.hex("request_plaintext")
    response = json.loads(ex.hex("response_plaintext"))
    assert response["status"] == 200 and isinstance(response["body"], dict)
    ex.assert_all_read()


def test_the_inputs_hide_nothing():
    """The page says each input is SM3 of a label; so it is."""
    values = read_block()
    label = lambda name: sc.sm3(f"shardhub worked example: {name}".encode())  # noqa: E731
    for name in ("d_A", "d_B", "r_A", "r_B"):
        assert values[name] == label(name).hex()
    assert values["session"] == label("session")[:16].hex()
    request = json.loads(bytes.fromhex(values["request_plaintext"]))
    assert request["path"].startswith(f"/v1/wallets/{label('wallet_id')[:16].hex()}/")


class FakeResponse:
    def __init__(self, status_code, body=None):
        self.status_code, self._body = status_code, body
        self.text = "" if body is None else json.dumps(body)

    def json(self):
        if self._body is None:
            raise ValueError("no body")
        return self._body


class WorkedExampleServer:
    """Plays the server of the worked example, answering with the page's values and checking
    that the client sends exactly the page's bytes."""

    def __init__(self, values):
        self.v = values
        self.session = values["session"]
        self.calls = []

    def get(self, url):
        self.calls.append(("GET", url, None))
        assert url == "http://wallet.test/v1/secure/server-key"
        return FakeResponse(200, {"public_key": self.v["P_B"], "id": bytes.fromhex(self.v["ID_B"]).decode()})

    def post(self, url, json=None):
        self.calls.append(("POST", url, json))
        if url == "http://wallet.test/v1/secure/handshake":
            assert json == {
                "client_id": "alice-phone",
                "id": bytes.fromhex(self.v["ID_A"]).decode(),
                "ephemeral_key": self.v["R_A"],
            }
            answer = {"session": self.session, "ephemeral_key": self.v["R_B"], "confirm": self.v["S_B"]}
            return FakeResponse(200, answer)
        if url == f"http://wallet.test/v1/secure/{self.session}/confirm":
            assert json == {"confirm": self.v["S_A"]}
            return FakeResponse(204)
        if url == f"http://wallet.test/v1/secure/{self.session}":
            assert json == {"seq": 1, "ct": self.v["request_record"]}
            assert type(json["seq"]) is int
            return FakeResponse(200, {"seq": 1, "ct": self.v["response_record"]})
        raise AssertionError(f"unexpected POST {url}")


def test_secure_client_puts_the_worked_example_on_the_wire():
    values = read_block()
    server = WorkedExampleServer(values)
    client = sc.SecureClient(
        "http://wallet.test/", "alice-phone", "alice@example.com", int(values["d_A"], 16), session=server
    )
    client.start(r_a=int(values["r_A"], 16))
    assert client.confirm().status_code == 204
    request = json.loads(bytes.fromhex(values["request_plaintext"]))
    status, body = client.call(request["method"], request["path"], request["body"])
    assert (status, body) == (200, json.loads(bytes.fromhex(values["response_plaintext"]))["body"])
    assert client.next_seq == 2
    assert [c[:2] for c in server.calls] == [
        ("GET", "http://wallet.test/v1/secure/server-key"),
        ("POST", "http://wallet.test/v1/secure/handshake"),
        ("POST", f"http://wallet.test/v1/secure/{values['session']}/confirm"),
        ("POST", f"http://wallet.test/v1/secure/{values['session']}"),
    ]


def test_secure_client_refuses_a_wrong_s_b():
    values = dict(read_block())
    values["S_B"] = values["S_B"][:-1] + ("0" if values["S_B"][-1] != "0" else "1")
    client = sc.SecureClient(
        "http://wallet.test", "alice-phone", "alice@example.com", int(values["d_A"], 16),
        session=WorkedExampleServer(values),
    )
    with pytest.raises(sc.ConfirmationError):
        client.start(r_a=int(values["r_A"], 16))


def test_a_record_opens_only_where_it_was_sealed():
    key, session = bytes(range(16)), "00112233445566778899aabbccddeeff"
    record = sc.seal_record(key, sc.SERVER_TO_CLIENT, session, 9, b'{"status":200,"body":null}')
    assert sc.open_record(key, sc.SERVER_TO_CLIENT, session, 9, record) == b'{"status":200,"body":null}'
    for wrong in (
        (sc.SERVER_TO_CLIENT, session, 10, record),
        (sc.CLIENT_TO_SERVER, session, 9, record),
        (sc.SERVER_TO_CLIENT, session[:-1] + "0", 9, record),
        (sc.SERVER_TO_CLIENT, session, 9, record[:-1]),
    ) + tuple(
        (sc.SERVER_TO_CLIENT, session, 9, record[:i] + bytes([record[i] ^ 0x01]) + record[i + 1 :])
        for i in range(len(record))
    ):
        with pytest.raises(sc.AuthenticationError):
            sc.open_record(key, *wrong)


# --- Known answers of crypto/testdata --------------------------------------------------------

VECTORS = json.loads((TESTDATA / "wallet-vectors.json").read_text())

# GM/T 0003.5's 256-bit example curve, the one the GM/T 0003.3 key-exchange example uses (the
# same parameters as crypto/src/gm/example_curve.rs).
EXAMPLE_CURVE = sc.Curve(
    "gmt0003-example-fp256",
    p=0x8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3,
    a=0x787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498,
    b=0x63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A,
    n=0x8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7,
    gx=0x421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D,
    gy=0x0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2,
)
CURVES = {"sm2p256v1": sc.SM2, "gmt0003-example-fp256": EXAMPLE_CURVE}


@pytest.mark.parametrize("entry", VECTORS["sm3"], ids=lambda e: e["source"][:40])
def test_sm3_known_answers(entry):
    assert sc.sm3(bytes.fromhex(entry["msg_hex"])).hex() == entry["digest"]


def test_kdf_is_sm3_in_counter_mode_from_one():
    assert sc.kdf(b"z", 40) == sc.sm3(b"z\x00\x00\x00\x01") + sc.sm3(b"z\x00\x00\x00\x02")[:8]
    assert sc.kdf(b"z", 16) == sc.kdf(b"z", 32)[:16]


@pytest.mark.parametrize("entry", VECTORS["sm4_block"], ids=lambda e: f"{e['iterations']}x")
def test_sm4_block_known_answers(entry):
    cipher = sc.SM4(bytes.fromhex(entry["key"]))
    block = bytes.fromhex(entry["pt"])
    for _ in range(entry["iterations"]):  # GB/T 32907 A.2 runs 1,000,000 (several seconds here)
        block = cipher.encrypt_block(block)
    assert block.hex() == entry["ct"]


@pytest.mark.parametrize("entry", VECTORS["sm4_gcm"], ids=lambda e: e["source"][:30])
def test_sm4_gcm_known_answers(entry):
    gcm = sc.SM4GCM(bytes.fromhex(entry["key"]))
    nonce, aad, pt = (bytes.fromhex(entry[k]) for k in ("nonce", "aad", "pt"))
    sealed = gcm.seal(nonce, aad, pt)
    assert sealed.hex() == entry["ct"] + entry["tag"]
    assert gcm.open(nonce, aad, sealed) == pt


def wycheproof_cases():
    data = json.loads((TESTDATA / VECTORS["sm4_gcm_wycheproof"]["file"]).read_text())
    assert data["algorithm"] == "SM4-GCM" and data["numberOfTests"] == 104
    return [case for group in data["testGroups"] for case in group["tests"]]


@pytest.mark.parametrize("case", wycheproof_cases(), ids=lambda c: f"tc{c['tcId']}-{c['result']}")
def test_wycheproof_sm4_gcm(case):
    gcm = sc.SM4GCM(bytes.fromhex(case["key"]))
    iv, aad, msg = (bytes.fromhex(case[k]) for k in ("iv", "aad", "msg"))
    sealed = bytes.fromhex(case["ct"] + case["tag"])
    if case["result"] == "valid":
        assert gcm.seal(iv, aad, msg) == sealed
        assert gcm.open(iv, aad, sealed) == msg
    else:
        assert case["result"] == "invalid"
        with pytest.raises((sc.AuthenticationError, ValueError)):  # ValueError: an empty IV
            gcm.open(iv, aad, sealed)


def test_sm2_public_key_of_gmt_0003_5_annex_a():
    d = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
    assert sc.point_to_hex(sc.SM2.mul(d)) == (
        "0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
        "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
    )


@pytest.mark.parametrize("entry", VECTORS["sm2_sign"], ids=lambda e: e["id"])
def test_sm2_z_values(entry):
    public = sc.point_from_hex(entry["pub"].lower())
    assert sc.point_to_hex(sc.SM2.mul(int(entry["priv"], 16))) == entry["pub"].lower()
    assert sc.z_value(entry["id"], public).hex() == entry["Z"].lower()


@pytest.mark.parametrize("entry", VECTORS["sm2_key_exchange"], ids=lambda e: e["curve"])
def test_sm2_key_exchange_vectors(entry):
    """GM/T 0003.3's own example (on its example curve) and the SM2-curve vector, through the
    client's initiator and the shared helpers for B's side; klen as the vector says."""
    curve = CURVES[entry["curve"]]
    d_a, d_b = int(entry["dA"], 16), int(entry["dB"], 16)
    p_a, p_b = curve.mul(d_a), curve.mul(d_b)
    assert sc.point_to_hex(p_a, curve) == entry["PA"].lower()
    assert sc.point_to_hex(p_b, curve) == entry["PB"].lower()
    z_a, z_b = sc.z_value(entry["IDA"], p_a, curve), sc.z_value(entry["IDB"], p_b, curve)
    assert (z_a.hex(), z_b.hex()) == (entry["ZA"].lower(), entry["ZB"].lower())

    initiator = sc.Initiator(d_a, entry["IDA"], p_b, entry["IDB"], int(entry["rA"], 16), curve)
    assert sc.point_to_hex(initiator.ephemeral, curve) == entry["RA"].lower()
    r_b = curve.mul(int(entry["rB"], 16))
    assert sc.point_to_hex(r_b, curve) == entry["RB"].lower()
    _, v = sc.shared_point(d_b, int(entry["rB"], 16), r_b, p_a, initiator.ephemeral, curve)
    k_b, s_b, s2 = sc.exchange_outputs(v, z_a, z_b, initiator.ephemeral, r_b, entry["klen"], curve)
    assert (k_b.hex(), s_b.hex()) == (entry["K"].lower(), entry["SB"].lower())
    k_a, s_a = initiator.finish(r_b, s_b, entry["klen"])
    assert (k_a, s_a) == (k_b, s2)
    assert s_a.hex() == entry["SA"].lower()


def test_points_off_the_curve_or_compressed_are_refused():
    g = sc.point_to_hex(sc.SM2.g)
    with pytest.raises(ValueError):
        sc.point_from_hex(g[:-1] + ("0" if g[-1] != "0" else "1"))
    with pytest.raises(ValueError):
        sc.point_from_hex("03" + g[2:66])


def test_curve_arithmetic_laws():
    curve = sc.SM2
    assert curve.mul(curve.n) is None
    assert curve.mul(curve.n - 1) == (curve.g[0], curve.p - curve.g[1])
    a, b = 0x1234567890ABCDEF, 0xFEDCBA0987654321
    assert curve.add(curve.mul(a), curve.mul(b)) == curve.mul(a + b)
    assert curve.mul(a, curve.mul(b)) == curve.mul(a * b)
    assert curve.add(curve.mul(5), curve.mul(5)) == curve.mul(10)
    d, public = sc.generate_key()
    assert 1 <= d < curve.n and sc.point_from_hex(public) == curve.mul(d)
