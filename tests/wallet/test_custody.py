"""Custody of the keys (docs/wallet.md, "Custody"): wallets survive restarts and kill -9,
a wrong passphrase or a damaged keystore stops the start and is never rewritten, no
passphrase disables the wallet API only, and no secret reaches the disk or the log in clear.

Choices where the doc leaves room: a refused start names the reason in what the process
writes (stderr or its log): "passphrase" for a wrong one, "corrupt" for a damaged
server.keystore. A damaged wallet record is a flipped byte inside a record that has good
records after it, so it is damage in the middle of the log (refused), not a torn tail.
"""

from __future__ import annotations

import struct
import threading
import unicodedata
from pathlib import Path

import pytest
import requests

from wallet_server import DEFAULT_PASSPHRASE, address_path

ABANDON = "abandon " * 11 + "about"
COINS = ("btc", "btc-segwit", "eth", "cosmos")
VECTOR_COIN = {"btc": "btc", "btc84": "btc-segwit", "eth": "eth", "cosmos": "cosmos"}


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory`, by relative path."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def wallet_files(server) -> dict[str, bytes]:
    return snapshot(server.data_dir / "wallet")


def addresses_of(server, wid: str) -> dict:
    return {(coin, idx): server.address(wid, coin, 0, 0, idx)
            for coin in COINS for idx in (0, 7)}


def flip(path: Path, offset: int) -> bytes:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))
    return bytes(data)


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _walk(data: bytes, pos: int) -> list[tuple[int, int]]:
    out = []
    while pos + 8 <= len(data):
        (n, crc) = struct.unpack_from("<II", data, pos)
        end = pos + 8 + n
        if end > len(data) or crc32c(data[pos:pos + 4] + data[pos + 8:end]) != crc:
            break
        out.append((pos, end))
        pos = end
    return out


def frames(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each checksummed `[len u32 LE][crc32c u32 LE][payload]` frame of a
    shard log (core/src/journal/frame.rs), from the first offset whose chain of good frames
    runs to the end of the file (a segment may start with a header)."""
    for start in range(min(len(data), 4096)):
        fr = _walk(data, start)
        if fr and fr[-1][1] == len(data):
            return fr
    return []


def segment_logs(server) -> list[Path]:
    return sorted(p for p in (server.data_dir / "wallet").glob("shard-*/seg-*.log")
                  if p.stat().st_size)


def test_wallets_survive_restart(server, vectors):
    imported = server.create_wallet(ABANDON)
    with_pass = server.create_wallet(ABANDON, passphrase="TREZOR")
    generated = [server.create_wallet() for _ in range(6)]
    before = {wid: addresses_of(server, wid) for wid in [imported, with_pass, *generated]}
    msg = {"coin": "eth", "account": 0, "index": 0, "message": "still me"}
    sig = server.post(f"/v1/wallets/{generated[0]}/sign/message", json=msg).json()
    for _ in range(2):
        server.restart()
        for wid, addrs in before.items():
            assert addresses_of(server, wid) == addrs, f"wallet {wid} changed after restart"
        again = server.post(f"/v1/wallets/{generated[0]}/sign/message", json=msg)
        assert again.status_code == 200 and again.json() == sig
    assert before[imported][("eth", 0)]["address"] == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    # New wallets after restarts land next to the old ones.
    late = server.create_wallet()
    server.restart()
    assert server.address(late, "eth")["address"]
    assert addresses_of(server, imported) == before[imported]


def test_acknowledged_wallets_survive_kill_9(server, vectors):
    """Wallets are created on 4 connections at once; the server is killed with SIGKILL as
    soon as the 12th 201 arrives. Every wallet answered 201 (before or after the kill
    signal) must be there after a restart, with the addresses of its mnemonic."""
    known = vectors["random_derivations"]
    # Phase 1: generated wallets whose addresses are read before the crash.
    generated = {}
    for _ in range(4):
        wid = server.create_wallet()
        generated[wid] = server.address(wid, "eth", 1, 0, 3)
    # Phase 2: imports of known mnemonics, killed in flight.
    acked: dict[str, dict] = {}
    lock = threading.Lock()
    enough = threading.Event()
    todo = list(enumerate(known))

    def worker():
        s = requests.Session()
        while True:
            with lock:
                if not todo or enough.is_set():
                    return
                _, vec = todo.pop(0)
            try:
                r = s.post(server.url + "/v1/wallets", timeout=10,
                           json={"mnemonic": vec["mnemonic"], "passphrase": vec["passphrase"]})
            except requests.RequestException:
                return
            if r.status_code == 201:
                with lock:
                    acked[r.json()["wallet_id"]] = vec
                    if len(acked) >= 12:
                        enough.set()
            else:
                return
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    assert enough.wait(30), f"only {len(acked)} wallets acknowledged"
    server.kill()
    for t in threads:
        t.join(15)
    assert len(acked) >= 12
    server.start()
    for wid, vec in acked.items():
        got = server.address(wid, VECTOR_COIN[vec["coin"]], vec["account"], vec["change"],
                             vec["index"])
        assert got["address"] == vec["address"], f"acknowledged wallet {wid} lost or changed"
    for wid, addr in generated.items():
        assert server.address(wid, "eth", 1, 0, 3) == addr


def test_torn_tail_is_cut_and_the_rest_survives(server):
    """What a crash can leave: the last record cut short. The start cuts it off; every
    earlier wallet answers."""
    ids = [server.create_wallet() for _ in range(10)]
    addrs = {wid: server.address(wid, "eth")["address"] for wid in ids}
    server.stop()
    logs = segment_logs(server)
    assert logs, "no wallet log under data/wallet/shard-*/"
    victim = max(logs, key=lambda p: len(frames(p.read_bytes())))
    data = victim.read_bytes()
    fr = frames(data)
    assert len(fr) >= 2, f"{victim}: no chain of checksummed records found"
    last_start, last_end = fr[-1]
    victim.write_bytes(data[:last_start + (last_end - last_start) // 2])
    server.start()
    answered = lost = 0
    for wid in ids:
        r = server.get(address_path(wid, "eth"))
        if r.status_code == 200:
            answered += 1
            assert r.json()["address"] == addrs[wid]
        else:
            assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_wallet", r.text
            lost += 1
    assert lost == 1 and answered == 9, (answered, lost)
    # The log takes new wallets after the cut.
    wid = server.create_wallet()
    server.restart()
    assert server.get(address_path(wid, "eth")).status_code == 200


def test_wrong_passphrase_stops_start(server):
    wid = server.create_wallet(ABANDON)
    server.stop()
    before = snapshot(server.data_dir)
    server.passphrase_file.write_text("not the passphrase\n")
    text = server.start_expect_failure()
    assert "passphrase" in text.lower(), f"the refusal does not mention the passphrase:\n{text}"
    assert snapshot(server.data_dir) == before, "a refused start changed the data directory"
    # The right one (its trailing newline dropped either way) opens it again.
    server.passphrase_file.write_text(DEFAULT_PASSPHRASE)
    server.start()
    assert server.address(wid, "eth")["address"] == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"


def test_corrupt_server_keystore_stops_start_and_is_left_alone(server):
    wid = server.create_wallet(ABANDON)
    server.stop()
    keystore = server.data_dir / "wallet" / "server.keystore"
    assert keystore.is_file(), "no data/wallet/server.keystore"
    damaged = flip(keystore, len(keystore.read_bytes()) // 2)
    before = snapshot(server.data_dir)
    text = server.start_expect_failure()
    assert "corrupt" in text.lower(), f"the refusal does not say the keystore is corrupt:\n{text}"
    assert keystore.read_bytes() == damaged, "the damaged keystore was rewritten"
    assert snapshot(server.data_dir) == before
    # Repaired, it starts with everything in place.
    flip(keystore, len(damaged) // 2)
    server.start()
    assert server.address(wid, "eth")["address"] == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"


def test_corrupt_wallet_record_stops_start_and_is_left_alone(server):
    ids = [server.create_wallet() for _ in range(12)]
    addrs = {wid: server.address(wid, "btc")["address"] for wid in ids}
    server.stop()
    logs = segment_logs(server)
    victim = max(logs, key=lambda p: len(frames(p.read_bytes())))
    data = victim.read_bytes()
    fr = frames(data)
    assert len(fr) >= 3, f"{victim} holds {len(fr)} records"
    middle = len(data) // 2
    # A byte inside a record that has good records after it: damage, not a torn tail.
    start, end = next((s, e) for s, e in fr if s <= middle < e)
    if (start, end) == fr[-1]:
        start, end = fr[len(fr) // 2 - 1]
        middle = (start + end) // 2
    damaged = flip(victim, middle)
    before = snapshot(server.data_dir)
    text = server.start_expect_failure()
    assert victim.read_bytes() == damaged, f"{victim} was rewritten by a refused start"
    assert snapshot(server.data_dir) == before
    assert text.strip(), "a refused start should say why"
    flip(victim, middle)
    server.start()
    for wid, a in addrs.items():
        assert server.address(wid, "btc")["address"] == a


def test_keystore_files_are_private(server):
    """Beyond the letter of docs/wallet.md, what a custody operator expects: the sealed key
    material (server.keystore, the shard logs, clients.json) is readable by the server's
    user only, so another local account cannot copy it for an offline passphrase search."""
    server.create_wallet(ABANDON)
    server.create_wallet()
    server.stop()
    loose = [f"{p.relative_to(server.data_dir)} {p.stat().st_mode & 0o777:04o}"
             for p in sorted((server.data_dir / "wallet").rglob("*"))
             if p.is_file() and p.stat().st_mode & 0o077]
    assert not loose, "group/other can read key material: " + ", ".join(loose)


@pytest.mark.wallet_config(wallet={"passphrase_file": ""})
def test_no_passphrase_disables_the_wallet_api_only(server):
    for r in (server.post("/v1/wallets", json={}),
              server.post("/v1/wallets", json={"mnemonic": ABANDON}),
              server.get(address_path("0" * 32, "eth")),
              server.post(f"/v1/wallets/{'0' * 32}/sign/message",
                          json={"coin": "eth", "account": 0, "index": 0, "message": "x"})):
        assert r.status_code == 503, r.text
        body = r.json()
        assert set(body) == {"error"} and body["error"]["code"] == "wallet_disabled", body
        assert body["error"]["message"]
    assert server.get("/healthz").status_code == 200
    assert server.get("/readyz").status_code == 200
    assert server.get("/metrics").status_code == 200
    # Nothing was sealed under no passphrase.
    assert not (server.data_dir / "wallet" / "server.keystore").exists()


@pytest.mark.wallet_config(wallet={"passphrase_file": ""}, start=False)
def test_passphrase_from_systemd_credential(server, tmp_path):
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "wallet-passphrase").write_text("from the credential store\n")
    server.env["CREDENTIALS_DIRECTORY"] = str(creds)
    server.start()
    wid = server.create_wallet(ABANDON)
    server.stop()
    # Sealed under the credential: the same passphrase through a file opens it too...
    server.passphrase_file.write_text("from the credential store")
    server.configure(wallet={"passphrase_file": str(server.passphrase_file)})
    server.env["CREDENTIALS_DIRECTORY"] = None
    server.start()
    assert server.address(wid, "eth")["address"] == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    server.stop()
    # ...and another credential does not.
    (creds / "wallet-passphrase").write_text("another one\n")
    server.configure(wallet={"passphrase_file": ""})
    server.env["CREDENTIALS_DIRECTORY"] = str(creds)
    assert "passphrase" in server.start_expect_failure().lower()


def secret_needles(vec: dict, extra_privs: list[str]) -> tuple[dict, dict]:
    """Byte strings that must not be found in clear: the mnemonic, runs of 3 of its words,
    the BIP-39 passphrase, the seed (raw and hex), the entropy, private keys; and, for the
    sealed wallet files only, each word of 5+ letters (a log may well say "space")."""
    mnemonic = vec["mnemonic"]
    words = mnemonic.split()
    seed = bytes.fromhex(vec["seed_hex"])
    needles = {
        "mnemonic": mnemonic.encode(),
        "mnemonic NFKD": unicodedata.normalize("NFKD", mnemonic).encode(),
        "seed": seed,
        "seed hex": vec["seed_hex"].encode(),
        "seed HEX": vec["seed_hex"].upper().encode(),
        "seed hex half": vec["seed_hex"][:32].encode(),
        "entropy": bytes.fromhex(vec["entropy_hex"]),
        "entropy hex": vec["entropy_hex"].encode(),
        "keystore passphrase": DEFAULT_PASSPHRASE.encode(),
    }
    if vec.get("passphrase"):
        needles["bip39 passphrase"] = vec["passphrase"].encode()
        needles["bip39 passphrase NFKD"] = unicodedata.normalize(
            "NFKD", vec["passphrase"]).encode()
    for i in range(len(words) - 2):
        needles[f"words {i}-{i + 2}"] = " ".join(words[i:i + 3]).encode()
    for n, priv in enumerate(extra_privs):
        needles[f"private key {n}"] = bytes.fromhex(priv)
        needles[f"private key {n} hex"] = priv.encode()
    single = {f"word {w!r}": w.encode() for w in set(words) if len(w) >= 5}
    return needles, single


@pytest.mark.wallet_config(server={"log_level": "debug"})
def test_secrets_never_in_clear_on_disk_or_in_the_log(server, vectors):
    """Two imported mnemonics with known seeds (one with a BIP-39 passphrase), used for every
    endpoint, a refused import that carries most of the words, then a restart. Neither the
    data directory nor the server log (at debug level) holds any of them."""
    bip39 = max((v for v in vectors["bip39"] if len(v["mnemonic"].split()) == 24),
                key=lambda v: len(set(v["mnemonic"].split())))
    rnd = next(v for v in vectors["random_derivations"] if v["passphrase"] == "pässwörd 日本")
    w1 = server.create_wallet(bip39["mnemonic"], bip39["passphrase"])
    w2 = server.create_wallet(rnd["mnemonic"], rnd["passphrase"])
    for wid in (w1, w2):
        for coin in COINS:
            server.address(wid, coin, 0, 0, 0)
        assert server.post(f"/v1/wallets/{wid}/sign/message",
                           json={"coin": "eth", "account": 0, "index": 0,
                                 "message": "x"}).status_code == 200
    words = bip39["mnemonic"].split()
    # A refusal whose request holds the mnemonic with one word swapped.
    r = server.post("/v1/wallets", json={"mnemonic": " ".join(words[:-1] + ["zoo"]),
                                          "passphrase": bip39["passphrase"]})
    assert r.status_code == 400
    r = server.post("/v1/wallets", json={"mnemonic": " ".join(words + ["zoo"])})
    assert r.status_code == 400
    server.restart()
    assert server.address(w1, "eth")["address"]
    server.stop()
    needles, single = {}, {}
    for tag, vec, privs in (("bip39 vector", bip39, []),
                            ("random vector", rnd, [rnd["privkey_hex"]])):
        n, w = secret_needles(vec, privs)
        needles.update({f"{tag} {k}": v for k, v in n.items()})
        single.update({f"{tag} {k}": v for k, v in w.items()})
    files = snapshot(server.data_dir)
    assert files, "empty data directory"
    log = server.log_path.read_bytes()
    found = []
    for name, content in [*files.items(), ("server log", log)]:
        checks = dict(needles)
        if name.startswith("wallet/"):
            checks.update(single)
        found += [f"{what} in {name}" for what, needle in checks.items() if needle in content]
    assert not found, "secrets in clear: " + ", ".join(found)
    # The keystore files are there and sealed (SHKSTORE).
    assert files["wallet/server.keystore"].startswith(b"SHKSTORE")
