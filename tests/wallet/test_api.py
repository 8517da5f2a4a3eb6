"""The wallet API (docs/wallet.md, "Endpoints" and "Errors") against known answers.

Known answers come from crypto/testdata/wallet-vectors.json. The Ethereum transaction
vectors (eth_tx) are signed with raw private keys that no mnemonic path of the vectors
reaches, so the server cannot sign them with those keys. Instead this file carries a small,
independent reference written here from the specifications (Keccak-256 from FIPS 202 with
the original 0x01 padding, secp256k1 ECDSA with RFC 6979 nonces and low S, RLP, EIP-155,
EIP-1559, EIP-191, EIP-55, BIP-32, BIP-39 seeds, BIP-143, base58check, bech32/bech32m), and:

1. the reference is first checked against every vector (`test_reference_*`: it must
   reproduce each eth_tx raw_tx, signing hash, r, s, v and tx hash, each BIP-143 sighash and
   signature, each BIP-32 extended key, each BIP-39 seed and each address byte for byte);
2. then the server's answers for the vectors' transactions, signed with a key the server
   does hold (the "abandon ... about" mnemonic, whose private keys the address vectors list),
   must equal the reference's byte for byte (raw tx, tx hash, from, signatures), and every
   signature must verify and recover to the address the server gives for that path.

Choices where docs/wallet.md leaves room (the reading a demanding wallet backend expects):
- `path` in the address answer is written the usual way, m/44'/60'/0'/0/0.
- `public_key` is bare lower-case hex; for coin=eth a 0x prefix is also accepted.
- sign/btc inputs are {"txid", "vout", "amount_sat", "account", "change", "index",
  "sighash"?} and outputs {"address", "amount_sat"}; the raw transaction has exactly the
  outputs asked for (no change output is added).
- ECDSA nonces are RFC 6979 (the vectors' signatures are), so signatures are compared byte
  for byte, not only verified.
- A mixed-case Ethereum address whose EIP-55 checksum is wrong is bad_address.
- A JSON integer quantity beyond 64 bits is either signed exactly or refused with a 400;
  it is never rounded.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import re
import secrets
import socket
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from wallet_server import address_path

ABANDON = "abandon " * 11 + "about"
COINS = ("btc", "btc-segwit", "eth", "cosmos")
VECTOR_COIN = {"btc": "btc", "btc84": "btc-segwit", "eth": "eth", "cosmos": "cosmos"}
WALLET_ID = re.compile(r"^[0-9a-f]{32}$")
HEX = re.compile(r"^[0-9a-f]*$")


# =========================================================================================
# Reference implementations (written for this suite from the specifications)
# =========================================================================================

# ---- Keccak-256 (FIPS 202 permutation; Ethereum's original 0x01 padding) ---------------

def _keccak_round_constants() -> list[int]:
    def rc_bit(t: int) -> int:
        if t % 255 == 0:
            return 1
        r = 1
        for _ in range(t % 255):
            r <<= 1
            if r & 0x100:
                r ^= 0x171  # R[0], R[4], R[5], R[6] ^= R[8]; R truncated to 8 bits
        return r & 1
    out = []
    for ir in range(24):
        rc = 0
        for j in range(7):
            if rc_bit(j + 7 * ir):
                rc |= 1 << ((1 << j) - 1)
        out.append(rc)
    return out


def _keccak_rotations() -> list[list[int]]:
    rot = [[0] * 5 for _ in range(5)]
    x, y = 1, 0
    for t in range(24):
        rot[x][y] = ((t + 1) * (t + 2) // 2) % 64
        x, y = y, (2 * x + 3 * y) % 5
    return rot


_RC = _keccak_round_constants()
_ROT = _keccak_rotations()
_M64 = (1 << 64) - 1


def _rol(v: int, n: int) -> int:
    return ((v << n) | (v >> (64 - n))) & _M64 if n else v


def _keccak_f(a: list[list[int]]) -> None:
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        for x in range(5):
            for y in range(5):
                a[x][y] ^= d[x]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        for x in range(5):
            for y in range(5):
                a[x][y] = b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y])
        a[0][0] ^= rc


def _sponge(data: bytes, rate: int, pad: int, out_len: int) -> bytes:
    msg = bytearray(data) + bytes([pad])
    while len(msg) % rate:
        msg.append(0)
    msg[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        block = msg[off:off + rate]
        for i in range(rate // 8):
            a[i % 5][i // 5] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        _keccak_f(a)
    out = b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(rate // 8))
    return out[:out_len]


def keccak256(data: bytes) -> bytes:
    return _sponge(data, 136, 0x01, 32)


def sha3_256_ref(data: bytes) -> bytes:
    """The same permutation with the SHA-3 padding: checked against hashlib."""
    return _sponge(data, 136, 0x06, 32)


# ---- hashes ----------------------------------------------------------------------------

def sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def dsha256(b: bytes) -> bytes:
    return sha256(sha256(b))


def _ripemd160_py(msg: bytes) -> bytes:
    """RIPEMD-160 (Dobbertin, Bosselaers, Preneel 1996), for OpenSSL builds without it."""
    def f(j, x, y, z):
        if j < 16:
            return x ^ y ^ z
        if j < 32:
            return (x & y) | (~x & z)
        if j < 48:
            return (x | ~y) ^ z
        if j < 64:
            return (x & z) | (y & ~z)
        return x ^ (y | ~z)
    rl = [list(range(16)),
          [7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8],
          [3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12],
          [1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2],
          [4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13]]
    rr = [[5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12],
          [6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2],
          [15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13],
          [8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14],
          [12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11]]
    sl = [[11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8],
          [7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12],
          [11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5],
          [11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12],
          [9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11, 8, 5, 6]]
    sr = [[8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6],
          [9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11],
          [9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5],
          [15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8],
          [8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15, 13, 11, 11]]
    kl = [0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xA953FD4E]
    kr = [0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x7A6D76E9, 0x00000000]
    m32 = 0xFFFFFFFF

    def rol(x, n):
        return ((x << n) | (x >> (32 - n))) & m32
    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    data = bytearray(msg) + b"\x80"
    while len(data) % 64 != 56:
        data.append(0)
    data += (8 * len(msg)).to_bytes(8, "little")
    for off in range(0, len(data), 64):
        x = [int.from_bytes(data[off + 4 * i:off + 4 * i + 4], "little") for i in range(16)]
        al, bl, cl, dl, el = h
        ar, br, cr, dr, er = h
        for j in range(80):
            r = j // 16
            t = rol((al + (f(j, bl, cl, dl) & m32) + x[rl[r][j % 16]] + kl[r]) & m32,
                    sl[r][j % 16])
            t = (t + el) & m32
            al, el, dl, cl, bl = el, dl, rol(cl, 10), bl, t
            t = rol((ar + (f(79 - j, br, cr, dr) & m32) + x[rr[r][j % 16]] + kr[r]) & m32,
                    sr[r][j % 16])
            t = (t + er) & m32
            ar, er, dr, cr, br = er, dr, rol(cr, 10), br, t
        t = (h[1] + cl + dr) & m32
        h[1] = (h[2] + dl + er) & m32
        h[2] = (h[3] + el + ar) & m32
        h[3] = (h[4] + al + br) & m32
        h[4] = (h[0] + bl + cr) & m32
        h[0] = t
    return b"".join(v.to_bytes(4, "little") for v in h)


def ripemd160(b: bytes) -> bytes:
    try:
        return hashlib.new("ripemd160", b).digest()
    except ValueError:
        return _ripemd160_py(b)


def hash160(b: bytes) -> bytes:
    return ripemd160(sha256(b))


# ---- secp256k1 ---------------------------------------------------------------------------

P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


def ec_add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = 3 * x1 * x1 * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return (x3, (lam * (x1 - x3) - y1) % P)


def ec_mul(k: int, point=G):
    result, addend = None, point
    while k:
        if k & 1:
            result = ec_add(result, addend)
        addend = ec_add(addend, addend)
        k >>= 1
    return result


def on_curve(pt) -> bool:
    x, y = pt
    return (y * y - x * x * x - 7) % P == 0


def compress(pt) -> bytes:
    return bytes([2 + (pt[1] & 1)]) + pt[0].to_bytes(32, "big")


def decompress(b: bytes):
    assert len(b) == 33 and b[0] in (2, 3), f"not a compressed key: {b.hex()}"
    x = int.from_bytes(b[1:], "big")
    assert x < P
    y = pow((x * x * x + 7) % P, (P + 1) // 4, P)
    assert (y * y - x * x * x - 7) % P == 0, f"x is not on secp256k1: {b.hex()}"
    if (y & 1) != (b[0] & 1):
        y = P - y
    return (x, y)


def pubkey_of(priv: int) -> bytes:
    return compress(ec_mul(priv))


def rfc6979_k(priv: int, digest: bytes):
    """RFC 6979 section 3.2 with HMAC-SHA256 (qlen = hlen = 256): the candidate nonces."""
    x = priv.to_bytes(32, "big")
    h = (int.from_bytes(digest, "big") % N).to_bytes(32, "big")
    v, k = b"\x01" * 32, b"\x00" * 32
    k = hmac.new(k, v + b"\x00" + x + h, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    k = hmac.new(k, v + b"\x01" + x + h, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    while True:
        v = hmac.new(k, v, hashlib.sha256).digest()
        cand = int.from_bytes(v, "big")
        if 1 <= cand < N:
            yield cand
        k = hmac.new(k, v + b"\x00", hashlib.sha256).digest()
        v = hmac.new(k, v, hashlib.sha256).digest()


def ecdsa_sign(priv: int, digest: bytes) -> tuple[int, int, int]:
    """(r, s, recovery id) with RFC 6979 nonces and low S (s <= n/2)."""
    e = int.from_bytes(digest, "big")
    for k in rfc6979_k(priv, digest):
        rp = ec_mul(k)
        r = rp[0] % N
        if r == 0:
            continue
        s = pow(k, -1, N) * (e + r * priv) % N
        if s == 0:
            continue
        recid = (rp[1] & 1) | (2 if rp[0] >= N else 0)
        if s > N // 2:
            s, recid = N - s, recid ^ 1
        return r, s, recid
    raise AssertionError("unreachable")


def ecdsa_verify(pub, digest: bytes, r: int, s: int) -> bool:
    if not (1 <= r < N and 1 <= s < N):
        return False
    e = int.from_bytes(digest, "big")
    w = pow(s, -1, N)
    pt = ec_add(ec_mul(e * w % N), ec_mul(r * w % N, pub))
    return pt is not None and pt[0] % N == r


def ecdsa_recover(digest: bytes, r: int, s: int, recid: int):
    x = r + (N if recid & 2 else 0)
    assert x < P
    y = pow((x * x * x + 7) % P, (P + 1) // 4, P)
    if (y & 1) != (recid & 1):
        y = P - y
    e = int.from_bytes(digest, "big")
    rinv = pow(r, -1, N)
    q = ec_add(ec_mul(s * rinv % N, (x, y)), ec_mul((-e * rinv) % N))
    assert q is not None
    return q


def der_encode(r: int, s: int) -> bytes:
    def integer(v: int) -> bytes:
        b = v.to_bytes((v.bit_length() + 7) // 8 or 1, "big")
        if b[0] & 0x80:
            b = b"\x00" + b
        return b"\x02" + bytes([len(b)]) + b
    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


def der_decode_strict(der: bytes) -> tuple[int, int]:
    """BIP-66 strict DER: returns (r, s) or raises AssertionError."""
    assert 8 <= len(der) <= 72 and der[0] == 0x30 and der[1] == len(der) - 2, der.hex()
    out, pos = [], 2
    for _ in range(2):
        assert der[pos] == 0x02, der.hex()
        ln = der[pos + 1]
        v = der[pos + 2:pos + 2 + ln]
        assert ln > 0 and len(v) == ln, der.hex()
        assert not v[0] & 0x80, "negative integer"
        assert not (ln > 1 and v[0] == 0 and not v[1] & 0x80), "non-minimal integer"
        out.append(int.from_bytes(v, "big"))
        pos += 2 + ln
    assert pos == len(der), "bytes after s"
    return out[0], out[1]


# ---- BIP-39 / BIP-32 --------------------------------------------------------------------

def bip39_seed(mnemonic: str, passphrase: str = "") -> bytes:
    m = unicodedata.normalize("NFKD", mnemonic).encode()
    salt = ("mnemonic" + unicodedata.normalize("NFKD", passphrase)).encode()
    return hashlib.pbkdf2_hmac("sha512", m, salt, 2048)


def bip32_master(seed: bytes) -> tuple[int, bytes]:
    i = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    return int.from_bytes(i[:32], "big"), i[32:]


def bip32_child(key: int, chain: bytes, index: int) -> tuple[int, bytes]:
    if index >= 0x80000000:
        data = b"\x00" + key.to_bytes(32, "big") + index.to_bytes(4, "big")
    else:
        data = pubkey_of(key) + index.to_bytes(4, "big")
    i = hmac.new(chain, data, hashlib.sha512).digest()
    return (int.from_bytes(i[:32], "big") + key) % N, i[32:]


def parse_path(path: str) -> list[int]:
    parts = path.split("/")
    assert parts[0] == "m"
    out = []
    for p in parts[1:]:
        hard = p[-1] in "'hH"
        out.append(int(p[:-1] if hard else p) + (0x80000000 if hard else 0))
    return out


def derive_priv(seed: bytes, path: str) -> int:
    key, chain = bip32_master(seed)
    for i in parse_path(path):
        key, chain = bip32_child(key, chain, i)
    return key


def xprv_of(seed: bytes, path: str) -> str:
    key, chain = bip32_master(seed)
    parent_fp, child = b"\x00" * 4, 0
    steps = parse_path(path)
    for i in steps:
        parent_fp = hash160(pubkey_of(key))[:4]
        key, chain = bip32_child(key, chain, i)
        child = i
    payload = (bytes.fromhex("0488ade4") + bytes([len(steps)]) + parent_fp
               + child.to_bytes(4, "big") + chain + b"\x00" + key.to_bytes(32, "big"))
    return b58check_encode(payload)


# ---- base58check, bech32 / bech32m -------------------------------------------------------

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58check_encode(payload: bytes) -> str:
    data = payload + dsha256(payload)[:4]
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, rem = divmod(n, 58)
        out = B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\x00"))) + out


def b58check_decode(text: str) -> bytes:
    n = 0
    for ch in text:
        n = n * 58 + B58.index(ch)
    zeros = len(text) - len(text.lstrip("1"))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    data = b"\x00" * zeros + raw
    assert dsha256(data[:-4])[:4] == data[-4:], f"bad base58check checksum: {text}"
    return data[:-4]


BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32_CONST, BECH32M_CONST = 1, 0x2BC830A3


def _polymod(values: list[int]) -> int:
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def convertbits(data, frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out = []
    maxv = (1 << tobits) - 1
    for v in data:
        assert 0 <= v < (1 << frombits)
        acc = (acc << frombits) | v
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (tobits - bits)) & maxv)
    elif not pad:
        assert bits < frombits and not (acc << (tobits - bits)) & maxv, "bad padding"
    return out


def bech32_encode(hrp: str, data5: list[int], const: int) -> str:
    values = _hrp_expand(hrp) + data5
    pm = _polymod(values + [0] * 6) ^ const
    chk = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32_CHARSET[d] for d in data5 + chk)


def bech32_decode(text: str) -> tuple[str, list[int], int]:
    """(hrp, 5-bit data without checksum, checksum constant); raises on a bad string."""
    assert text == text.lower(), "mixed or upper case bech32"
    pos = text.rfind("1")
    hrp, rest = text[:pos], text[pos + 1:]
    assert pos >= 1 and len(rest) >= 6
    data = [BECH32_CHARSET.index(c) for c in rest]
    const = _polymod(_hrp_expand(hrp) + data)
    assert const in (BECH32_CONST, BECH32M_CONST), f"bad bech32 checksum: {text}"
    return hrp, data[:-6], const


def segwit_encode(hrp: str, version: int, program: bytes) -> str:
    const = BECH32_CONST if version == 0 else BECH32M_CONST
    return bech32_encode(hrp, [version] + convertbits(program, 8, 5, True), const)


def segwit_decode(addr: str, hrp: str = "bc") -> tuple[int, bytes]:
    got_hrp, data, const = bech32_decode(addr)
    assert got_hrp == hrp, addr
    version, program = data[0], bytes(convertbits(data[1:], 5, 8, False))
    assert const == (BECH32_CONST if version == 0 else BECH32M_CONST), addr
    assert 2 <= len(program) <= 40 and (version != 0 or len(program) in (20, 32)), addr
    return version, program


def cosmos_address(pub33: bytes) -> str:
    return bech32_encode("cosmos", convertbits(hash160(pub33), 8, 5, True), BECH32_CONST)


def p2pkh_address(pub33: bytes) -> str:
    return b58check_encode(b"\x00" + hash160(pub33))


def eth_checksum(addr20: bytes) -> str:
    lower = addr20.hex()
    h = keccak256(lower.encode()).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c
                          for i, c in enumerate(lower))


def eth_address_of(pub) -> str:
    x, y = pub if isinstance(pub, tuple) else decompress(pub)
    return eth_checksum(keccak256(x.to_bytes(32, "big") + y.to_bytes(32, "big"))[12:])


def address_for(coin: str, pub33: bytes) -> str:
    if coin == "btc":
        return p2pkh_address(pub33)
    if coin == "btc-segwit":
        return segwit_encode("bc", 0, hash160(pub33))
    if coin == "eth":
        return eth_address_of(pub33)
    if coin == "cosmos":
        return cosmos_address(pub33)
    raise ValueError(coin)


def script_pubkey_of(addr: str) -> bytes:
    """The output script a mainnet address pays to."""
    if addr.lower().startswith("bc1"):
        version, program = segwit_decode(addr)
        return bytes([0x50 + version if version else 0, len(program)]) + program
    payload = b58check_decode(addr)
    assert len(payload) == 21, addr
    if payload[0] == 0x00:
        return b"\x76\xa9\x14" + payload[1:] + b"\x88\xac"
    if payload[0] == 0x05:
        return b"\xa9\x14" + payload[1:] + b"\x87"
    raise AssertionError(f"not a mainnet address: {addr}")


# ---- RLP and Ethereum transactions ----------------------------------------------------------

def rlp_encode(item) -> bytes:
    if isinstance(item, int):
        item = item.to_bytes((item.bit_length() + 7) // 8, "big")
    if isinstance(item, (bytes, bytearray)):
        if len(item) == 1 and item[0] < 0x80:
            return bytes(item)
        return _rlp_len(len(item), 0x80) + bytes(item)
    payload = b"".join(rlp_encode(x) for x in item)
    return _rlp_len(len(payload), 0xC0) + payload


def _rlp_len(n: int, offset: int) -> bytes:
    if n <= 55:
        return bytes([offset + n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(b)]) + b


def rlp_decode(data: bytes):
    item, end = _rlp_item(data, 0)
    assert end == len(data), "bytes after the RLP item"
    assert rlp_encode(item) == data, "non-canonical RLP"
    return item


def _rlp_item(data: bytes, pos: int):
    b = data[pos]
    if b < 0x80:
        return data[pos:pos + 1], pos + 1
    if b < 0xB8:
        n = b - 0x80
        return data[pos + 1:pos + 1 + n], pos + 1 + n
    if b < 0xC0:
        ll = b - 0xB7
        n = int.from_bytes(data[pos + 1:pos + 1 + ll], "big")
        start = pos + 1 + ll
        return data[start:start + n], start + n
    if b < 0xF8:
        n, start = b - 0xC0, pos + 1
    else:
        ll = b - 0xF7
        n = int.from_bytes(data[pos + 1:pos + 1 + ll], "big")
        start = pos + 1 + ll
    items, p = [], start
    while p < start + n:
        it, p = _rlp_item(data, p)
        items.append(it)
    assert p == start + n
    return items, p


def hexbytes(s: str | None) -> bytes:
    if s is None:
        return b""
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def to_int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def eth_unsigned_fields(tx: dict) -> list:
    """`tx` in the vectors' shape (chainId, gasPrice, gas, ...)."""
    to = hexbytes(tx.get("to"))
    data = hexbytes(tx.get("data") or "0x")
    if tx.get("type", 0) == 2:
        access = [[hexbytes(e["address"]), [hexbytes(k) for k in e["storageKeys"]]]
                  for e in tx.get("accessList", [])]
        return [tx["chainId"], tx["nonce"], tx["maxPriorityFeePerGas"], tx["maxFeePerGas"],
                tx["gas"], to, tx["value"], data, access]
    return [tx["nonce"], tx["gasPrice"], tx["gas"], to, tx["value"], data]


def eth_signing_hash(tx: dict) -> bytes:
    fields = eth_unsigned_fields(tx)
    if tx.get("type", 0) == 2:
        return keccak256(b"\x02" + rlp_encode(fields))
    return keccak256(rlp_encode(fields + [tx["chainId"], 0, 0]))


def eth_sign_tx(priv: int, tx: dict) -> dict:
    digest = eth_signing_hash(tx)
    r, s, recid = ecdsa_sign(priv, digest)
    fields = eth_unsigned_fields(tx)
    if tx.get("type", 0) == 2:
        raw = b"\x02" + rlp_encode(fields + [recid, r, s])
        v = recid
    else:
        v = recid + 35 + 2 * tx["chainId"]
        raw = rlp_encode(fields + [v, r, s])
    return {"raw_tx": "0x" + raw.hex(), "signing_hash": "0x" + digest.hex(), "v": v,
            "r": r, "s": s, "tx_hash": "0x" + keccak256(raw).hex()}


def eth_personal_hash(message: bytes) -> bytes:
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def api_tx(tx: dict, form: str = "int") -> dict:
    """A vector transaction in the API's shape; quantities as JSON ints, "dec" or "hex"."""
    def q(v: int):
        if form == "dec":
            return str(v)
        if form == "hex":
            return hex(v)
        # Beyond 64 bits a JSON integer is not portable: send those as decimal strings.
        return v if v < 2**64 else str(v)
    out = {"type": tx.get("type", 0), "chain_id": q(tx["chainId"]), "nonce": q(tx["nonce"]),
           "gas_limit": q(tx["gas"]), "value": q(tx["value"]), "to": tx.get("to"),
           "data": tx.get("data") or "0x"}
    if out["type"] == 2:
        out["max_fee_per_gas"] = q(tx["maxFeePerGas"])
        out["max_priority_fee_per_gas"] = q(tx["maxPriorityFeePerGas"])
        out["access_list"] = [{"address": e["address"], "storage_keys": e["storageKeys"]}
                              for e in tx.get("accessList", [])]
    else:
        out["gas_price"] = q(tx["gasPrice"])
    return out


# ---- Bitcoin transactions ---------------------------------------------------------------

def varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


class Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        assert self.pos + n <= len(self.data), "transaction cut short"
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def varint(self) -> int:
        b = self.take(1)[0]
        if b < 0xFD:
            return b
        n = int.from_bytes(self.take({0xFD: 2, 0xFE: 4, 0xFF: 8}[b]), "little")
        assert n >= {0xFD: 0xFD, 0xFE: 0x10000, 0xFF: 0x100000000}[b], "non-minimal varint"
        return n

    def varbytes(self) -> bytes:
        return self.take(self.varint())


def parse_tx(raw: bytes) -> dict:
    """A Bitcoin transaction, with or without BIP-144 witnesses."""
    rd = Reader(raw)
    tx = {"version": rd.u32(), "inputs": [], "outputs": [], "witnesses": []}
    segwit = raw[4:6] == b"\x00\x01"
    if segwit:
        rd.take(2)
    for _ in range(rd.varint()):
        tx["inputs"].append({"txid_internal": rd.take(32), "vout": rd.u32(),
                             "script_sig": rd.varbytes(), "sequence": rd.u32()})
    for _ in range(rd.varint()):
        tx["outputs"].append({"amount": int.from_bytes(rd.take(8), "little"),
                              "script": rd.varbytes()})
    if segwit:
        for _ in tx["inputs"]:
            tx["witnesses"].append([rd.varbytes() for _ in range(rd.varint())])
    tx["locktime"] = rd.u32()
    assert rd.pos == len(raw), "bytes after the transaction"
    tx["segwit"] = segwit
    return tx


def serialize_tx(tx: dict, witness: bool) -> bytes:
    out = tx["version"].to_bytes(4, "little")
    if witness:
        out += b"\x00\x01"
    out += varint(len(tx["inputs"]))
    for i in tx["inputs"]:
        out += (i["txid_internal"] + i["vout"].to_bytes(4, "little") + varint(len(i["script_sig"]))
                + i["script_sig"] + i["sequence"].to_bytes(4, "little"))
    out += varint(len(tx["outputs"]))
    for o in tx["outputs"]:
        out += o["amount"].to_bytes(8, "little") + varint(len(o["script"])) + o["script"]
    if witness:
        for w in tx["witnesses"]:
            out += varint(len(w)) + b"".join(varint(len(it)) + it for it in w)
    return out + tx["locktime"].to_bytes(4, "little")


def bip143_sighash(tx: dict, index: int, script_code: bytes, amount: int, hashtype: int) -> bytes:
    base, anyone = hashtype & 0x1F, bool(hashtype & 0x80)
    zero = b"\x00" * 32
    ins, outs = tx["inputs"], tx["outputs"]

    def ser_out(o):
        return o["amount"].to_bytes(8, "little") + varint(len(o["script"])) + o["script"]
    prevouts = zero if anyone else dsha256(
        b"".join(i["txid_internal"] + i["vout"].to_bytes(4, "little") for i in ins))
    sequences = zero if anyone or base in (2, 3) else dsha256(
        b"".join(i["sequence"].to_bytes(4, "little") for i in ins))
    if base not in (2, 3):
        outputs = dsha256(b"".join(ser_out(o) for o in outs))
    elif base == 3 and index < len(outs):
        outputs = dsha256(ser_out(outs[index]))
    else:
        outputs = zero
    me = ins[index]
    pre = (tx["version"].to_bytes(4, "little") + prevouts + sequences + me["txid_internal"]
           + me["vout"].to_bytes(4, "little") + varint(len(script_code)) + script_code
           + amount.to_bytes(8, "little") + me["sequence"].to_bytes(4, "little") + outputs
           + tx["locktime"].to_bytes(4, "little") + hashtype.to_bytes(4, "little"))
    return dsha256(pre)


def p2wpkh_script_code(pub33: bytes) -> bytes:
    return b"\x76\xa9\x14" + hash160(pub33) + b"\x88\xac"


# =========================================================================================
# Shared helpers
# =========================================================================================

def assert_error(r: requests.Response, status: int, code: str | set[str]) -> dict:
    """A refusal: this status and {"error": {"code", "message"}} and nothing else."""
    codes = {code} if isinstance(code, str) else set(code)
    assert r.status_code == status, (
        f"{r.request.method} {r.request.url} -> {r.status_code} {r.text!r}, expected "
        f"{status} {sorted(codes)}")
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"Content-Type {ctype!r} for {r.text!r}"
    body = r.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err, dict) and {"code", "message"} <= set(err), body
    assert isinstance(err["code"], str) and isinstance(err["message"], str), body
    assert err["message"], f"empty message: {body}"
    assert err["code"] in codes, (
        f"{r.request.method} {r.request.url} -> code {err['code']!r}, expected "
        f"{sorted(codes)}: {body}")
    return err


def pubkey_bytes(answer: dict, coin: str) -> bytes:
    pk = answer["public_key"]
    if coin == "eth" and pk.startswith("0x"):
        pk = pk[2:]
    assert HEX.match(pk) and len(pk) == 66, f"public_key {pk!r} is not 33 bytes of hex"
    return bytes.fromhex(pk)


def check_address_shape(coin: str, answer: dict) -> None:
    """A server-chosen key: the address must be the one its public key gives."""
    assert set(answer) >= {"path", "address", "public_key"}, answer
    pub = pubkey_bytes(answer, coin)
    assert pub[0] in (2, 3) and on_curve(decompress(pub)), answer
    addr = answer["address"]
    if coin == "btc":
        payload = b58check_decode(addr)
        assert payload == b"\x00" + hash160(pub), answer
    elif coin == "btc-segwit":
        assert segwit_decode(addr) == (0, hash160(pub)), answer
    elif coin == "eth":
        assert re.fullmatch(r"0x[0-9a-fA-F]{40}", addr), answer
        assert addr == eth_address_of(pub), f"not the EIP-55 address of the key: {answer}"
    elif coin == "cosmos":
        hrp, data, const = bech32_decode(addr)
        assert hrp == "cosmos" and const == BECH32_CONST, answer
        assert bytes(convertbits(data, 5, 8, False)) == hash160(pub), answer


def vector_priv(vectors: dict, path: str) -> int:
    """The private key the address vectors give for ABANDON at `path`."""
    for a in vectors["addresses"]:
        if a["mnemonic"] == ABANDON and a["passphrase"] == "" and a["path"] == path:
            return int(a["privkey_hex"], 16)
    raise KeyError(path)


def wallet_log_bytes(server) -> int:
    """Bytes in the shards' wallet logs: a refusal "changes nothing", so it writes none."""
    return sum(p.stat().st_size for p in (server.data_dir / "wallet").glob("shard-*/seg-*.log"))


LOOKS_LIKE_MNEMONIC = re.compile(r"\b(?:[a-z]{3,8}[ ,]+){11,}[a-z]{3,8}\b")


# =========================================================================================
# The reference against the vectors (no server involved)
# =========================================================================================

def test_reference_keccak_and_sha3():
    assert keccak256(b"").hex() == \
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    for msg in (b"", b"abc", b"x" * 135, b"y" * 136, b"z" * 137, bytes(range(256)) * 3):
        assert sha3_256_ref(msg) == hashlib.sha3_256(msg).digest()
    assert ripemd160(b"abc") == _ripemd160_py(b"abc")
    assert _ripemd160_py(b"").hex() == "9c1185a5c5e9fc54612808977ee8f548b2258d31"


def test_reference_curve():
    assert on_curve(G)
    assert ec_mul(N) is None
    assert ec_mul(N - 1) == (G[0], P - G[1])


def test_reference_eth_tx_vectors(vectors):
    for vec in vectors["eth_tx"]:
        tx = vec["tx"]
        got = eth_sign_tx(int(vec["key"], 16), tx)
        assert got["raw_tx"] == vec["raw_tx"], vec["source"]
        if "signing_hash" in vec:
            assert got["signing_hash"] == vec["signing_hash"]
            assert got["v"] == vec["v"]
            assert got["r"] == int(vec["r"], 16) and got["s"] == int(vec["s"], 16)
        if "tx_hash" in vec:
            assert got["tx_hash"] == vec["tx_hash"]
        if "sender" in vec:
            assert eth_address_of(ec_mul(int(vec["key"], 16))) == vec["sender"]
        # The raw transaction decodes back to the fields, and the signer recovers.
        raw = hexbytes(vec["raw_tx"])
        typed = tx.get("type", 0) == 2
        fields = rlp_decode(raw[1:] if typed else raw)
        unsigned = eth_unsigned_fields(tx)
        assert rlp_encode(fields[:len(unsigned)]) == rlp_encode(unsigned)
        v, r, s = (to_int(x) for x in fields[-3:])
        recid = v if typed else v - 35 - 2 * tx["chainId"]
        q = ecdsa_recover(eth_signing_hash(tx), r, s, recid)
        assert q == ec_mul(int(vec["key"], 16))


def test_reference_bip143_vectors(vectors):
    for vec in vectors["btc_bip143"]:
        tx = parse_tx(bytes.fromhex(vec["unsigned_tx"]))
        digest = bip143_sighash(tx, vec["input_index"], bytes.fromhex(vec["script_code"]),
                                vec["amount"], vec["hashtype"])
        assert digest.hex() == vec["sighash"], vec["name"]
        priv = int(vec["privkey"], 16)
        r, s, _ = ecdsa_sign(priv, digest)
        assert (der_encode(r, s) + bytes([vec["hashtype"]])).hex() == vec["signature"], vec["name"]
        assert der_decode_strict(der_encode(r, s)) == (r, s)
        assert ecdsa_verify(ec_mul(priv), digest, r, s)


def test_reference_bip32_and_bip39_vectors(vectors):
    for vec in vectors["bip32"]:
        seed = bytes.fromhex(vec["seed_hex"])
        for chain in vec["chains"]:
            assert xprv_of(seed, chain["path"]) == chain["xprv"], (vec["name"], chain["path"])
    for vec in vectors["bip39"]:
        seed = bip39_seed(vec["mnemonic"], vec["passphrase"])
        assert seed.hex() == vec["seed_hex"]
        assert xprv_of(seed, "m") == vec["bip32_xprv"]


def test_reference_addresses(vectors):
    seeds: dict = {}
    for vec in vectors["addresses"] + vectors["random_derivations"]:
        coin = VECTOR_COIN[vec["coin"]]
        key = (vec["mnemonic"], vec["passphrase"])
        if key not in seeds:
            seeds[key] = bip39_seed(*key)
        priv = derive_priv(seeds[key], vec["path"])
        assert priv == int(vec["privkey_hex"], 16), vec["path"]
        pub = pubkey_of(priv)
        assert pub.hex() == vec["pubkey_hex"]
        assert address_for(coin, pub) == vec["address"], vec
        assert decompress(pub) == ec_mul(priv)
    # Output scripts of the address kinds sign/btc must pay.
    assert script_pubkey_of(P2SH_ADDR)[:2] == b"\xa9\x14"
    assert script_pubkey_of(P2WSH_ADDR)[:2] == b"\x00\x20"
    assert script_pubkey_of(P2TR_ADDR)[:2] == b"\x51\x20"
    assert segwit_encode("bc", 1, segwit_decode(P2TR_ADDR)[1]) == P2TR_ADDR


# Well-known mainnet addresses (Bitcoin wiki P2SH example, BIP-173 P2WSH example, BIP-86's
# first address); test_reference_addresses checks their checksums with the decoders above.
P2SH_ADDR = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
P2WSH_ADDR = "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"
P2TR_ADDR = "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
TESTNET_ADDR = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"


# =========================================================================================
# Wallets and addresses
# =========================================================================================

def test_import_addresses_match_vectors(server, vectors):
    wid = server.create_wallet(ABANDON)
    assert WALLET_ID.match(wid), wid
    for vec in vectors["addresses"]:
        coin = VECTOR_COIN[vec["coin"]]
        got = server.address(wid, coin, vec["account"], vec["change"], vec["index"])
        assert got["path"] == vec["path"], (coin, got)
        assert got["address"] == vec["address"], (vec["path"], got)
        assert pubkey_bytes(got, coin).hex() == vec["pubkey_hex"], (vec["path"], got)


def test_address_defaults_are_account_change_index_zero(server, vectors):
    wid = server.create_wallet(ABANDON)
    for coin in COINS:
        default = server.address(wid, coin)
        explicit = server.address(wid, coin, 0, 0, 0)
        assert default == explicit, coin
    eth = server.address(wid, "eth")
    assert eth["address"] == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    # Only some of the three given.
    assert server.address(wid, "eth", index=1)["address"] == \
        "0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0"
    assert server.address(wid, "eth", account=1)["path"] == "m/44'/60'/1'/0/0"


def test_import_with_passphrases_and_every_length(server, vectors):
    """random_derivations: 12 to 24 words, BIP-39 passphrases (one needing NFKD), indices up
    to 2^31 - 1."""
    for vec in vectors["random_derivations"]:
        wid = server.create_wallet(vec["mnemonic"], vec["passphrase"])
        coin = VECTOR_COIN[vec["coin"]]
        got = server.address(wid, coin, vec["account"], vec["change"], vec["index"])
        assert got["path"] == vec["path"], got
        assert got["address"] == vec["address"], (vec["mnemonic"], vec["passphrase"], got)
        assert pubkey_bytes(got, coin).hex() == vec["pubkey_hex"]


def test_import_bip39_vectors(server, vectors):
    """Every BIP-39 vector (12, 18, 24 words, passphrase TREZOR) imports to the seed the
    vector gives: the addresses equal those derived here from the vector's seed_hex."""
    for vec in vectors["bip39"]:
        seed = bytes.fromhex(vec["seed_hex"])
        wid = server.create_wallet(vec["mnemonic"], vec["passphrase"])
        for coin, path in (("eth", "m/44'/60'/0'/0/0"), ("btc-segwit", "m/84'/0'/0'/0/0")):
            want = address_for(coin, pubkey_of(derive_priv(seed, path)))
            got = server.address(wid, coin)
            assert got["address"] == want, (vec["mnemonic"], coin, got)


def test_same_mnemonic_twice_gives_two_wallets_with_the_same_keys(server):
    a = server.create_wallet(ABANDON)
    b = server.create_wallet(ABANDON)
    assert a != b
    assert server.address(a, "eth", 0, 0, 5) == server.address(b, "eth", 0, 0, 5)
    c = server.create_wallet(ABANDON, passphrase="TREZOR")
    assert server.address(c, "eth")["address"] != server.address(a, "eth")["address"]


def test_generated_wallet(server):
    r = server.post("/v1/wallets", json={})
    assert r.status_code == 201, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"wallet_id"}, f"a new wallet answers its id only: {body}"
    wid = body["wallet_id"]
    assert WALLET_ID.match(wid), wid
    texts = [r.text, json.dumps(dict(r.headers))]
    answers = {}
    for coin in COINS:
        for account, change, index in ((0, 0, 0), (0, 1, 3), (2, 0, 2**31 - 1)):
            rr = server.get(address_path(wid, coin, account, change, index))
            assert rr.status_code == 200, rr.text
            texts.append(rr.text)
            got = rr.json()
            assert set(got) == {"path", "address", "public_key"}, got
            purpose, coin_type = {"btc": (44, 0), "btc-segwit": (84, 0), "eth": (44, 60),
                                  "cosmos": (44, 118)}[coin]
            assert got["path"] == f"m/{purpose}'/{coin_type}'/{account}'/{change}/{index}"
            check_address_shape(coin, got)
            answers[(coin, account, change, index)] = got
    # Keys differ across coins' trees, changes and indices.
    assert len({a["public_key"] for a in answers.values()}) == len(answers)
    # A second generated wallet has other keys; an empty body also generates one.
    r2 = server.post("/v1/wallets", data=b"{}", headers={"Content-Type": "application/json"})
    assert r2.status_code == 201, r2.text
    wid2 = r2.json()["wallet_id"]
    assert wid2 != wid
    assert server.address(wid2, "eth")["address"] != answers[("eth", 0, 0, 0)]["address"]
    # A generated wallet with a BIP-39 passphrase is also accepted and never echoes it.
    r3 = server.post("/v1/wallets", json={"passphrase": "extra words"})
    assert r3.status_code == 201 and set(r3.json()) == {"wallet_id"}, r3.text
    for t in texts + [r2.text, r3.text]:
        assert not LOOKS_LIKE_MNEMONIC.search(t), f"something like a mnemonic came back: {t}"
        assert "mnemonic" not in t.lower() and "seed" not in t.lower(), t


def test_wallets_on_both_shards_all_answer(server):
    """20 generated wallets (their hash slots spread them over both shards); each answers
    the same addresses on fresh connections, concurrently."""
    def create(_):
        s = requests.Session()
        try:
            r = s.post(server.url + "/v1/wallets", json={}, timeout=15)
            assert r.status_code == 201, r.text
            return r.json()["wallet_id"]
        finally:
            s.close()
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(create, range(20)))
    assert len(set(ids)) == 20 and all(WALLET_ID.match(i) for i in ids)

    def lookup(wid):
        out = []
        for _ in range(3):
            r = requests.get(server.url + address_path(wid, "eth", 0, 0, 7), timeout=15,
                             headers={"Connection": "close"})
            assert r.status_code == 200, (wid, r.text)
            out.append(r.json())
        assert out[0] == out[1] == out[2], out
        return out[0]["address"]
    with ThreadPoolExecutor(4) as pool:
        addrs = list(pool.map(lookup, ids))
    assert len(set(addrs)) == 20
    shards = [d for d in (server.data_dir / "wallet").iterdir() if d.name.startswith("shard-")]
    holding = [d.name for d in shards if any(f.stat().st_size for f in d.glob("seg-*.log"))]
    assert len(holding) == 2, f"20 wallets should land on both shards: {holding}"


# =========================================================================================
# sign/eth
# =========================================================================================

ETH_PATHS = [(0, 0, "m/44'/60'/0'/0/0"), (0, 19, "m/44'/60'/0'/0/19"),
             (1, 0, "m/44'/60'/1'/0/0")]


def check_eth_answer(answer: dict, tx: dict, priv: int, from_addr: str) -> None:
    assert set(answer) >= {"raw_tx", "tx_hash", "from"}, answer
    want = eth_sign_tx(priv, tx)
    raw = hexbytes(answer["raw_tx"])
    assert answer["raw_tx"] == want["raw_tx"], (
        f"raw_tx differs from the reference (RFC 6979, low S):\n got  {answer['raw_tx']}\n"
        f" want {want['raw_tx']}")
    assert answer["tx_hash"] == want["tx_hash"] == "0x" + keccak256(raw).hex()
    assert answer["from"] == from_addr
    # Independently of the reference's nonce: the fields round-trip and the signer recovers.
    typed = tx.get("type", 0) == 2
    fields = rlp_decode(raw[1:] if typed else raw)
    unsigned = eth_unsigned_fields(tx)
    assert rlp_encode(fields[:len(unsigned)]) == rlp_encode(unsigned)
    v, r, s = (to_int(x) for x in fields[len(unsigned):])
    if typed:
        assert raw[0] == 2 and v in (0, 1)
        recid = v
    else:
        assert v in (35 + 2 * tx["chainId"], 36 + 2 * tx["chainId"]), v
        recid = v - 35 - 2 * tx["chainId"]
    assert s <= N // 2, "high S"
    q = ecdsa_recover(eth_signing_hash(tx), r, s, recid)
    assert eth_address_of(q) == from_addr


def test_sign_eth_vectors(server, vectors):
    """Every eth_tx vector's transaction (EIP-155 legacy, EIP-1559 with and without access
    lists, contract creation, 2^255 - 1 value, nonce 2^64 - 2) signed by the wallet's keys."""
    wid = server.create_wallet(ABANDON)
    for n, vec in enumerate(vectors["eth_tx"]):
        account, index, path = ETH_PATHS[n % len(ETH_PATHS)]
        priv = vector_priv(vectors, path)
        from_addr = server.address(wid, "eth", account, 0, index)["address"]
        assert from_addr == eth_address_of(ec_mul(priv))
        body = {"account": account, "index": index, "tx": api_tx(vec["tx"])}
        r = server.post(f"/v1/wallets/{wid}/sign/eth", json=body)
        assert r.status_code == 200, (vec["source"], r.text)
        check_eth_answer(r.json(), vec["tx"], priv, from_addr)


def test_sign_eth_quantity_forms_and_determinism(server, vectors):
    wid = server.create_wallet(ABANDON)
    priv = vector_priv(vectors, "m/44'/60'/0'/0/0")
    for vec in (vectors["eth_tx"][0], vectors["eth_tx"][11]):
        answers = []
        for form in ("int", "dec", "hex", "dec"):
            r = server.post(f"/v1/wallets/{wid}/sign/eth",
                            json={"account": 0, "index": 0, "tx": api_tx(vec["tx"], form)})
            assert r.status_code == 200, (form, r.text)
            answers.append(r.json())
        assert all(a == answers[0] for a in answers), answers
        check_eth_answer(answers[0], vec["tx"], priv, "0x9858EfFD232B4033E47d90003D41EC34EcaEda94")


def test_sign_eth_defaults_and_lowercase_to(server, vectors):
    """`data` defaults to empty, `to` absent means contract creation, an all-lower-case
    `to` is accepted (EIP-55 checksums bind mixed case only)."""
    wid = server.create_wallet(ABANDON)
    priv = vector_priv(vectors, "m/44'/60'/0'/0/0")
    frm = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    tx = {"type": 2, "chainId": 10, "nonce": 3, "maxPriorityFeePerGas": 1, "maxFeePerGas": 2,
          "gas": 21000, "to": "0x" + "ab" * 20, "value": 5, "data": "0x", "accessList": []}
    body = {"type": 2, "chain_id": 10, "nonce": 3, "max_priority_fee_per_gas": 1,
            "max_fee_per_gas": 2, "gas_limit": 21000, "to": "0x" + "ab" * 20, "value": 5,
            "access_list": []}
    r = server.post(f"/v1/wallets/{wid}/sign/eth", json={"account": 0, "index": 0, "tx": body})
    assert r.status_code == 200, r.text
    check_eth_answer(r.json(), tx, priv, frm)
    create = dict(body)
    del create["to"]
    create["data"] = "0x6001"
    r = server.post(f"/v1/wallets/{wid}/sign/eth", json={"account": 0, "index": 0, "tx": create})
    assert r.status_code == 200, r.text
    check_eth_answer(r.json(), {**tx, "to": None, "data": "0x6001"}, priv, frm)


def test_sign_eth_big_json_integer_is_exact_or_refused(server, vectors):
    wid = server.create_wallet(ABANDON)
    priv = vector_priv(vectors, "m/44'/60'/0'/0/0")
    value = 2**70 + 1
    body = {"type": 0, "chain_id": 1, "nonce": 0, "gas_price": 1, "gas_limit": 21000,
            "to": "0x" + "11" * 20, "value": value}
    r = server.post(f"/v1/wallets/{wid}/sign/eth",
                    data=json.dumps({"account": 0, "index": 0, "tx": body}),
                    headers={"Content-Type": "application/json"})
    if r.status_code == 200:
        tx = {"chainId": 1, "nonce": 0, "gasPrice": 1, "gas": 21000, "to": body["to"],
              "value": value, "data": "0x"}
        check_eth_answer(r.json(), tx, priv, "0x9858EfFD232B4033E47d90003D41EC34EcaEda94")
    else:
        assert_error(r, 400, {"bad_json", "amount_overflow", "bad_tx_field"})


# =========================================================================================
# sign/btc
# =========================================================================================

def btc_input(txid: str, vout: int, amount: int, account=0, change=0, index=0, sighash=None):
    d = {"txid": txid, "vout": vout, "amount_sat": amount, "account": account,
         "change": change, "index": index}
    if sighash is not None:
        d["sighash"] = sighash
    return d


TXID_A = "3f5a" + "01" * 30
TXID_B = "00" * 31 + "ff"


def check_btc_answer(answer: dict, inputs: list[dict], outputs: list[dict],
                     pubkeys: list[bytes], privs: list[int | None], version: int = 2,
                     locktime: int = 0) -> dict:
    assert set(answer) >= {"raw_tx", "txid", "wtxid"}, answer
    for k in ("raw_tx", "txid", "wtxid"):
        assert HEX.match(answer[k]), f"{k} is not lower-case hex: {answer[k]!r}"
    raw = bytes.fromhex(answer["raw_tx"])
    tx = parse_tx(raw)
    assert tx["segwit"], "a P2WPKH spend carries witnesses (BIP-144 marker and flag)"
    assert tx["version"] == version and tx["locktime"] == locktime
    # txid / wtxid: double SHA-256 of the serializations, shown byte-reversed.
    assert answer["txid"] == dsha256(serialize_tx(tx, False))[::-1].hex()
    assert answer["wtxid"] == dsha256(raw)[::-1].hex()
    assert serialize_tx(tx, True) == raw
    # Inputs in order, txids given in display order.
    assert len(tx["inputs"]) == len(inputs)
    for got, want in zip(tx["inputs"], inputs):
        assert got["txid_internal"][::-1].hex() == want["txid"]
        assert got["vout"] == want["vout"]
        assert got["script_sig"] == b"", "a native P2WPKH input has an empty scriptSig"
    # Exactly the outputs asked for: the fee is inputs - outputs, no change is added.
    assert [(o["amount"], o["script"]) for o in tx["outputs"]] == \
        [(o["amount_sat"], script_pubkey_of(o["address"])) for o in outputs]
    fee = sum(i["amount_sat"] for i in inputs) - sum(o["amount"] for o in tx["outputs"])
    assert fee == sum(i["amount_sat"] for i in inputs) - sum(o["amount_sat"] for o in outputs)
    assert fee >= 0
    names = {"ALL": 1, "NONE": 2, "SINGLE": 3}
    for n, (wit, want, pub, priv) in enumerate(zip(tx["witnesses"], inputs, pubkeys, privs)):
        assert len(wit) == 2, f"input {n}: a P2WPKH witness is <signature> <pubkey>"
        assert wit[1] == pub, f"input {n}: witness key {wit[1].hex()} is not {pub.hex()}"
        sh = want.get("sighash", "ALL")
        if isinstance(sh, str):
            base, _, acp = sh.partition("|")
            sh = names[base] | (0x80 if acp == "ANYONECANPAY" else 0)
        assert wit[0][-1] == sh, f"input {n}: sighash byte {wit[0][-1]:#x}, expected {sh:#x}"
        r, s = der_decode_strict(wit[0][:-1])
        assert s <= N // 2, f"input {n}: high S"
        digest = bip143_sighash(tx, n, p2wpkh_script_code(pub), want["amount_sat"], sh)
        assert ecdsa_verify(decompress(pub), digest, r, s), f"input {n}: signature fails"
        if priv is not None:
            wr, ws, _ = ecdsa_sign(priv, digest)
            assert (r, s) == (wr, ws), f"input {n}: not the RFC 6979 signature"
    return tx


def test_sign_btc_p2wpkh_spend(server, vectors):
    wid = server.create_wallet(ABANDON)
    a0 = server.address(wid, "btc-segwit", 0, 0, 0)
    a1 = server.address(wid, "btc-segwit", 0, 1, 0)
    assert a0["address"] == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    inputs = [btc_input(TXID_A, 1, 150_000), btc_input(TXID_B, 0, 60_000, change=1)]
    outputs = [{"address": "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA", "amount_sat": 50_000},
               {"address": P2SH_ADDR, "amount_sat": 40_000},
               {"address": "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g", "amount_sat": 30_000},
               {"address": P2WSH_ADDR, "amount_sat": 20_000},
               {"address": P2TR_ADDR, "amount_sat": 69_000}]
    r = server.post(f"/v1/wallets/{wid}/sign/btc", json={"inputs": inputs, "outputs": outputs})
    assert r.status_code == 200, r.text
    pubs = [pubkey_bytes(a0, "btc-segwit"), pubkey_bytes(a1, "btc-segwit")]
    privs = [vector_priv(vectors, "m/84'/0'/0'/0/0"), vector_priv(vectors, "m/84'/0'/0'/1/0")]
    check_btc_answer(r.json(), inputs, outputs, pubs, privs)
    # Deterministic.
    again = server.post(f"/v1/wallets/{wid}/sign/btc", json={"inputs": inputs, "outputs": outputs})
    assert again.status_code == 200 and again.json() == r.json()


def test_sign_btc_sighash_types_version_locktime(server, vectors):
    wid = server.create_wallet(ABANDON)
    pub0 = pubkey_bytes(server.address(wid, "btc-segwit", 0, 0, 0), "btc-segwit")
    pub19 = pubkey_bytes(server.address(wid, "btc-segwit", 0, 0, 19), "btc-segwit")
    priv0 = vector_priv(vectors, "m/84'/0'/0'/0/0")
    priv19 = vector_priv(vectors, "m/84'/0'/0'/0/19")
    outputs = [{"address": "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "amount_sat": 10_000},
               {"address": P2TR_ADDR, "amount_sat": 20_000}]
    for sh_a, sh_b in (("NONE", "SINGLE"), ("ALL|ANYONECANPAY", "NONE|ANYONECANPAY"),
                       ("SINGLE|ANYONECANPAY", 1), (0x83, "ALL")):
        inputs = [btc_input(TXID_A, 0, 25_000, sighash=sh_a),
                  btc_input(TXID_B, 7, 25_000, index=19, sighash=sh_b)]
        body = {"inputs": inputs, "outputs": outputs, "version": 1, "locktime": 840_000}
        r = server.post(f"/v1/wallets/{wid}/sign/btc", json=body)
        assert r.status_code == 200, (sh_a, sh_b, r.text)
        check_btc_answer(r.json(), inputs, outputs, [pub0, pub19], [priv0, priv19],
                         version=1, locktime=840_000)


def test_sign_btc_account_paths(server):
    """An input at another account and index is signed by that key (no private key known
    here: the signature must verify under the public key the address endpoint gives)."""
    wid = server.create_wallet()
    a = server.address(wid, "btc-segwit", 3, 1, 12345)
    inputs = [btc_input(TXID_A, 2, 2_100_000_000_000_000, account=3, change=1, index=12345)]
    outputs = [{"address": P2WSH_ADDR, "amount_sat": 2_100_000_000_000_000 - 500}]
    r = server.post(f"/v1/wallets/{wid}/sign/btc", json={"inputs": inputs, "outputs": outputs})
    assert r.status_code == 200, r.text
    check_btc_answer(r.json(), inputs, outputs, [pubkey_bytes(a, "btc-segwit")], [None])


# =========================================================================================
# sign/message
# =========================================================================================

def test_sign_message(server, vectors):
    wid = server.create_wallet(ABANDON)
    cases = [(0, 0, "hello", b"hello"),
             (0, 19, "Sign in to example.org\nNonce: 8f14e45f", b"Sign in to example.org\nNonce: 8f14e45f"),
             (1, 0, "h\u00e9llo \u4e16\u754c", "h\u00e9llo \u4e16\u754c".encode()),
             (0, 0, "0xdeadbeef00", bytes.fromhex("deadbeef00")),
             (0, 0, "", b"")]
    paths = {(0, 0): "m/44'/60'/0'/0/0", (0, 19): "m/44'/60'/0'/0/19",
             (1, 0): "m/44'/60'/1'/0/0"}
    for account, index, message, as_bytes in cases:
        body = {"coin": "eth", "account": account, "index": index, "message": message}
        r = server.post(f"/v1/wallets/{wid}/sign/message", json=body)
        assert r.status_code == 200, (message, r.text)
        sig = r.json()["signature"]
        assert re.fullmatch(r"0x[0-9a-f]{130}", sig), sig
        raw = bytes.fromhex(sig[2:])
        r_, s_, v = to_int(raw[:32]), to_int(raw[32:64]), raw[64]
        assert v in (27, 28), f"v = {v}"
        assert 1 <= r_ < N and 1 <= s_ <= N // 2, "r out of range or high S"
        digest = eth_personal_hash(as_bytes)
        signer = eth_address_of(ecdsa_recover(digest, r_, s_, v - 27))
        want_addr = server.address(wid, "eth", account, 0, index)["address"]
        assert signer == want_addr, f"{message!r}: recovers to {signer}, not {want_addr}"
        wr, ws, wrec = ecdsa_sign(vector_priv(vectors, paths[(account, index)]), digest)
        assert (r_, s_, v) == (wr, ws, 27 + wrec), f"{message!r}: not the RFC 6979 signature"
        again = server.post(f"/v1/wallets/{wid}/sign/message", json=body)
        assert again.status_code == 200 and again.json()["signature"] == sig, "not deterministic"


# =========================================================================================
# Errors
# =========================================================================================

def test_mnemonic_errors(server):
    words = ABANDON.split()
    server.create_wallet()
    logged = wallet_log_bytes(server)
    # Every word known, checksum wrong (12 x abandon).
    r = server.post("/v1/wallets", json={"mnemonic": " ".join(["abandon"] * 12)})
    assert_error(r, 400, "bad_mnemonic_checksum")
    # A mistyped word that is still in the list.
    r = server.post("/v1/wallets", json={"mnemonic": " ".join(words[:-1] + ["above"])})
    assert_error(r, 400, "bad_mnemonic_checksum")
    # A word not in the list; the message must not echo it.
    r = server.post("/v1/wallets", json={"mnemonic": " ".join(words[:-1] + ["zqxsecretword"])})
    assert_error(r, 400, "bad_mnemonic_word")
    assert "zqxsecretword" not in r.text
    for n in (11, 25, 27):
        r = server.post("/v1/wallets", json={"mnemonic": " ".join(["abandon"] * n)})
        assert_error(r, 400, "bad_mnemonic_length")
    r = server.post("/v1/wallets", json={"mnemonic": ""})
    assert_error(r, 400, {"bad_mnemonic_length", "bad_json"})
    r = server.post("/v1/wallets", json={"mnemonic": 12})
    assert_error(r, 400, "bad_json")
    r = server.post("/v1/wallets", json={"mnemonic": ABANDON, "passphrase": 7})
    assert_error(r, 400, "bad_json")
    assert wallet_log_bytes(server) == logged, "a refused import wrote to the wallet log"


def test_address_errors(server):
    wid = server.create_wallet(ABANDON)
    for account, change, index in ((2**31, 0, 0), (0, 0, 2**31), (0, 2, 0), (0, 0, 2**32),
                                   (2**40, 0, 0)):
        r = server.get(address_path(wid, "eth", account, change, index))
        assert_error(r, 400, "bad_path")
    for bad in ("-1", "abc", "1.5"):
        r = server.get(address_path(wid, "btc", index=bad))
        assert_error(r, 400, {"bad_path", "bad_json"})
    for coin in ("doge", "BTC", "eth ", "ethereum", "bitcoin"):
        r = server.get(address_path(wid, coin))
        assert_error(r, 400, "unknown_coin")
    r = server.get(f"/v1/wallets/{wid}/address")
    assert_error(r, 400, {"unknown_coin", "bad_json"})
    # 2^31 - 1 is the last index; the wallet still answers after all that.
    assert server.address(wid, "eth", 2**31 - 1, 1, 2**31 - 1)["path"] == \
        "m/44'/60'/2147483647'/1/2147483647"


def test_coin_is_one_of_the_four(server):
    """docs/wallet.md: `coin` is btc, btc-segwit, eth or cosmos; anything else is
    unknown_coin. The vectors' own name for BIP-84 ("btc84") is not an API name."""
    wid = server.create_wallet(ABANDON)
    assert_error(server.get(address_path(wid, "btc84")), 400, "unknown_coin")


def test_unknown_wallet(server):
    wid = server.create_wallet(ABANDON)
    other = secrets.token_hex(16)
    assert other != wid
    assert_error(server.get(address_path(other, "eth")), 404, "unknown_wallet")
    tx = {"type": 0, "chain_id": 1, "nonce": 0, "gas_price": 1, "gas_limit": 21000,
          "to": "0x" + "11" * 20, "value": 0}
    assert_error(server.post(f"/v1/wallets/{other}/sign/eth",
                             json={"account": 0, "index": 0, "tx": tx}), 404, "unknown_wallet")
    assert_error(server.post(f"/v1/wallets/{other}/sign/btc",
                             json={"inputs": [btc_input(TXID_A, 0, 1000)],
                                   "outputs": [{"address": P2TR_ADDR, "amount_sat": 900}]}),
                 404, "unknown_wallet")
    assert_error(server.post(f"/v1/wallets/{other}/sign/message",
                             json={"coin": "eth", "account": 0, "index": 0, "message": "x"}),
                 404, "unknown_wallet")
    # Not a wallet id at all: no such wallet either (or no such route).
    for bad in ("xyz", wid + "00", wid[:-1]):
        r = server.get(address_path(bad, "eth"))
        assert_error(r, 404, {"unknown_wallet", "not_found"})


def eth_body(**tx_over) -> dict:
    tx = {"type": 0, "chain_id": 1, "nonce": 0, "gas_price": 1, "gas_limit": 21000,
          "to": "0x" + "11" * 20, "value": 0, "data": "0x"}
    tx.update(tx_over)
    return {"account": 0, "index": 0, "tx": {k: v for k, v in tx.items() if v is not ...}}


def test_sign_eth_errors(server):
    wid = server.create_wallet(ABANDON)
    url = f"/v1/wallets/{wid}/sign/eth"
    cases = [
        (eth_body(to="0x1234"), "bad_address"),
        (eth_body(to="0x" + "zz" * 20), {"bad_address", "bad_hex"}),
        (eth_body(to="9858EfFD232B4033E47d90003D41EC34EcaEda94x"), {"bad_address", "bad_hex"}),
        # EIP-55: one letter's case flipped.
        (eth_body(to="0x9858efFD232B4033E47d90003D41EC34EcaEda94"), "bad_address"),
        (eth_body(data="0xzz"), "bad_hex"),
        (eth_body(data="0x123"), "bad_hex"),
        (eth_body(value=str(2**256)), "amount_overflow"),
        (eth_body(value=hex(2**256)), "amount_overflow"),
        (eth_body(nonce=str(2**64)), "amount_overflow"),
        (eth_body(chain_id=0), "bad_tx_field"),
        (eth_body(type=1), "bad_tx_field"),
        (eth_body(type=2, gas_price=..., max_fee_per_gas=1, max_priority_fee_per_gas=2),
         "bad_tx_field"),
        (eth_body(type=2, gas_price=..., max_fee_per_gas=2, max_priority_fee_per_gas=1,
                  access_list=[{"address": "0x" + "11" * 20, "storage_keys": ["0x01"]}]),
         "bad_hex"),
        (eth_body(type=2, gas_price=..., max_fee_per_gas=2, max_priority_fee_per_gas=1,
                  access_list=[{"address": "0x12", "storage_keys": []}]), "bad_address"),
        (eth_body(value="12abc"), {"bad_json", "bad_tx_field", "bad_hex"}),
        (eth_body(value=-1), {"bad_json", "bad_tx_field", "amount_overflow"}),
        (eth_body(gas_limit=...), "bad_json"),
        (eth_body(nonce="nonce"), {"bad_json", "bad_tx_field"}),
        ({"account": 0, "index": 0}, "bad_json"),
        ({"account": "zero", "index": 0, "tx": eth_body()["tx"]}, "bad_json"),
        ({"account": 2**31, "index": 0, "tx": eth_body()["tx"]}, "bad_path"),
        ({"account": 0, "index": 2**31, "tx": eth_body()["tx"]}, "bad_path"),
    ]
    for body, code in cases:
        r = server.post(url, json=body)
        assert_error(r, 400, code)
    # Still signs after every refusal.
    assert server.post(url, json=eth_body()).status_code == 200


def test_sign_btc_errors(server):
    wid = server.create_wallet(ABANDON)
    url = f"/v1/wallets/{wid}/sign/btc"
    good_out = [{"address": P2TR_ADDR, "amount_sat": 900}]

    def body(inputs=None, outputs=None, **kw):
        return {"inputs": inputs or [btc_input(TXID_A, 0, 1000)],
                "outputs": outputs or good_out, **kw}
    cases = [
        (body(outputs=[{"address": P2TR_ADDR, "amount_sat": 1001}]), "outputs_exceed_inputs"),
        (body(inputs=[btc_input(TXID_A, 0, 500), btc_input(TXID_B, 0, 500)],
              outputs=[{"address": P2TR_ADDR, "amount_sat": 600},
                       {"address": P2WSH_ADDR, "amount_sat": 401}]), "outputs_exceed_inputs"),
        (body(inputs=[btc_input(TXID_A, 0, 2_100_000_000_000_001)]), "amount_overflow"),
        # Past MAX_MONEY and past the inputs: the amount check is the more specific one,
        # but refusing it as outputs_exceed_inputs is also a refusal.
        (body(outputs=[{"address": P2TR_ADDR, "amount_sat": 2_100_000_000_000_001}]),
         {"amount_overflow", "outputs_exceed_inputs"}),
        # Each below MAX_MONEY, the sum above it.
        (body(inputs=[btc_input(TXID_A, 0, 2_000_000_000_000_000),
                      btc_input(TXID_B, 0, 2_000_000_000_000_000)]), "amount_overflow"),
        (body(inputs=[btc_input(TXID_A, 0, 2**64)]), {"amount_overflow", "bad_json"}),
        (body(outputs=[{"address": TESTNET_ADDR, "amount_sat": 900}]), "bad_address"),
        (body(outputs=[{"address": "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabB", "amount_sat": 900}]),
         "bad_address"),
        (body(outputs=[{"address": "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyv",
                        "amount_sat": 900}]), "bad_address"),
        (body(outputs=[{"address": "not an address", "amount_sat": 900}]), "bad_address"),
        (body(outputs=[{"address": "0x9858EfFD232B4033E47d90003D41EC34EcaEda94",
                        "amount_sat": 900}]), "bad_address"),
        (body(inputs=[btc_input("zz" * 32, 0, 1000)]), "bad_hex"),
        (body(inputs=[btc_input("ab" * 31, 0, 1000)]), "bad_hex"),
        (body(inputs=[btc_input(TXID_A, 0, 1000, index=2**31)]), "bad_path"),
        (body(inputs=[btc_input(TXID_A, 0, 1000, change=2)]), "bad_path"),
        (body(inputs=[btc_input(TXID_A, 0, 1000, sighash="EVERYTHING")]),
         {"bad_tx_field", "bad_json"}),
        (body(inputs=[{"txid": TXID_A, "vout": 0}]), "bad_json"),
        (body(inputs=[btc_input(TXID_A, "zero", 1000)]), "bad_json"),
        ({"outputs": good_out}, "bad_json"),
        ({"inputs": [btc_input(TXID_A, 0, 1000)]}, "bad_json"),
    ]
    for b, code in cases:
        r = server.post(url, json=b)
        assert_error(r, 400, code)
    r = server.post(url, json={"inputs": [], "outputs": good_out})
    assert_error(r, 400, {"bad_tx_field", "bad_json", "outputs_exceed_inputs"})
    # No outputs, or one outpoint spent twice: transactions no node would accept.
    r = server.post(url, json={"inputs": [btc_input(TXID_A, 0, 1000)], "outputs": []})
    assert_error(r, 400, {"bad_tx_field", "bad_json"})
    r = server.post(url, json=body(inputs=[btc_input(TXID_A, 3, 1000),
                                           btc_input(TXID_A, 3, 1000, index=1)]))
    assert_error(r, 400, "bad_tx_field")
    assert server.post(url, json=body()).status_code == 200


def test_sign_message_errors(server):
    wid = server.create_wallet(ABANDON)
    url = f"/v1/wallets/{wid}/sign/message"
    ok = {"coin": "eth", "account": 0, "index": 0, "message": "hi"}
    assert_error(server.post(url, json={**ok, "coin": "doge"}), 400, "unknown_coin")
    assert_error(server.post(url, json={**ok, "message": "0xzz"}), 400, "bad_hex")
    assert_error(server.post(url, json={**ok, "index": 2**31}), 400, "bad_path")
    assert_error(server.post(url, json={k: v for k, v in ok.items() if k != "message"}),
                 400, "bad_json")
    assert_error(server.post(url, json={**ok, "message": 5}), 400, "bad_json")
    assert server.post(url, json=ok).status_code == 200


def test_bad_json_bodies(server):
    wid = server.create_wallet(ABANDON)
    ct = {"Content-Type": "application/json"}
    for path in ("/v1/wallets", f"/v1/wallets/{wid}/sign/eth", f"/v1/wallets/{wid}/sign/btc",
                 f"/v1/wallets/{wid}/sign/message"):
        for raw in (b"not json", b"{", b"[]", b'"text"', b"\xff\xfe", b'{"mnemonic": }'):
            assert_error(server.post(path, data=raw, headers=ct), 400, "bad_json")


def test_routes_and_methods(server):
    wid = server.create_wallet(ABANDON)
    for path in ("/v1/nope", "/v1/wallets/" + wid + "/sign/doge", "/v1/wallets/" + wid + "/x",
                 "/v2/wallets", "/v1/wallets/" + wid + "/address/extra"):
        assert_error(server.get(path), 404, "not_found")
        assert_error(server.post(path, json={}), 404, "not_found")
    for method, path in (("GET", "/v1/wallets"), ("DELETE", "/v1/wallets"),
                         ("PUT", "/v1/wallets"),
                         ("POST", address_path(wid, "eth")),
                         ("DELETE", address_path(wid, "eth")),
                         ("GET", f"/v1/wallets/{wid}/sign/eth"),
                         ("PUT", f"/v1/wallets/{wid}/sign/btc"),
                         ("GET", f"/v1/wallets/{wid}/sign/message")):
        r = server.request(method, path)
        assert_error(r, 405, "method_not_allowed")


@pytest.mark.wallet_config(wallet={"max_wallets_per_shard": 1})
def test_wallet_store_full(server):
    """max_wallets_per_shard = 1 on 2 shards: at most 2 wallets, then 503 wallet_store_full
    (imports too); the live setting raised by a reload lets creation go on."""
    created, refused = [], 0
    logged = wallet_log_bytes(server)
    for n in range(12):
        body = {"mnemonic": ABANDON} if n % 2 else {}
        r = server.post("/v1/wallets", json=body)
        if r.status_code == 201:
            created.append(r.json()["wallet_id"])
            logged = wallet_log_bytes(server)
        else:
            assert_error(r, 503, "wallet_store_full")
            refused += 1
            assert wallet_log_bytes(server) == logged, "a refused wallet was written"
    assert 1 <= len(created) <= 2 and refused == 12 - len(created), (created, refused)
    for wid in created:
        assert server.get(address_path(wid, "eth")).status_code == 200
    server.reload(wallet={"max_wallets_per_shard": 100})
    wid = server.create_wallet()
    assert server.address(wid, "eth")["address"]
    for wid in created:
        assert server.get(address_path(wid, "eth")).status_code == 200


def test_method_not_allowed_names_the_allowed_method(server):
    """RFC 9110 section 15.5.6: a 405 response MUST carry an Allow header listing the
    methods the resource supports (beyond docs/wallet.md's letter; HTTP clients rely on it)."""
    wid = server.create_wallet()
    for method, path, allowed in (("GET", "/v1/wallets", "POST"),
                                  ("DELETE", address_path(wid, "eth"), "GET"),
                                  ("GET", f"/v1/wallets/{wid}/sign/eth", "POST")):
        r = server.request(method, path)
        assert r.status_code == 405, r.text
        allow = [m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()]
        assert allowed in allow, f"{method} {path}: 405 with Allow {r.headers.get('Allow')!r}"


# =========================================================================================
# Connections
# =========================================================================================

def _http_conn(server) -> http.client.HTTPConnection:
    c = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
    c.connect()
    return c


def _good_request(conn: http.client.HTTPConnection, wid: str) -> None:
    sock = conn.sock
    conn.request("GET", address_path(wid, "eth", 0, 0, 1))
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 200, body
    assert json.loads(body)["address"] == "0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0"
    assert conn.sock is sock and sock is not None, "the keep-alive connection was closed"


def _raw_exchange(server, payload: bytes, shut: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as s:
        out = b""
        try:
            s.sendall(payload)
            if shut:
                s.shutdown(socket.SHUT_WR)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if not shut and b"\r\n\r\n" in out:
                    break
        except (socket.timeout, ConnectionResetError, BrokenPipeError):
            pass
        return out


def test_bad_request_does_not_disturb_another_connection(server):
    wid = server.create_wallet(ABANDON)
    keep = _http_conn(server)
    _good_request(keep, wid)
    other = requests.Session()
    ct = {"Content-Type": "application/json"}
    offenders = [
        lambda: other.post(server.url + "/v1/wallets", data=b"{{{", headers=ct, timeout=10),
        lambda: other.post(server.url + f"/v1/wallets/{wid}/sign/eth", json={"tx": 1},
                           timeout=10),
        lambda: other.get(server.url + address_path(wid, "doge"), timeout=10),
        lambda: other.post(server.url + "/v1/wallets",
                           json={"mnemonic": " ".join(["abandon"] * 12)}, timeout=10),
        lambda: other.get(server.url + "/v1/nope", timeout=10),
        lambda: other.delete(server.url + "/v1/wallets", timeout=10),
        lambda: _raw_exchange(server, b"GARBAGE \x00\x01\x02\r\n\r\n"),
        lambda: _raw_exchange(server, b"POST /v1/wallets HTTP/1.1\r\nHost: x\r\n"
                                      b"Content-Length: 100\r\n\r\n{\"mnem", shut=True),
        lambda: _raw_exchange(server, b"POST /v1/wallets HTTP/1.1\r\nHost: x\r\n"
                                      b"Content-Length: nope\r\n\r\n{}"),
        lambda: _raw_exchange(server, b"GET /v1/wallets HTTP/1.1\r\nX: " + b"a" * 70000
                                      + b"\r\n\r\n"),
    ]
    for offend in offenders:
        offend()
        _good_request(keep, wid)
    # A refusal on the keep-alive connection itself leaves it usable too.
    keep.request("GET", address_path(wid, "doge"))
    resp = keep.getresponse()
    assert resp.status == 400 and json.loads(resp.read())["error"]["code"] == "unknown_coin"
    _good_request(keep, wid)
    keep.close()
    other.close()
