"""An independent client of shardhub's wallet secure channel, written from docs/secure-channel.md.

Pure Python (standard library, plus `requests` for HTTP), so the tests check the server
against code that shares nothing with it:

- SM3 (GB/T 32905), the SM4 block cipher (GB/T 32907) and GCM over it (NIST SP 800-38D,
  RFC 8998);
- SM2 curve arithmetic (GB/T 32918.5 parameters), Z, the SM3 KDF and the initiator's side of
  the GM/T 0003.3 key exchange with key confirmation;
- the channel's records (nonce, aad, seal, open) and `SecureClient`, which speaks the HTTP
  steps.

Nothing here is constant-time or zeroizes anything: it is a test client, not a wallet.
"""

import json
import secrets
import struct

MASK32 = 0xFFFFFFFF


def rotl32(x, n):
    n %= 32
    return ((x << n) | (x >> (32 - n))) & MASK32


# --- SM3 (GB/T 32905-2016) -------------------------------------------------------------------

SM3_IV = (0x7380166F, 0x4914B2B9, 0x172442D7, 0xDA8A0600, 0xA96F30BC, 0x163138AA, 0xE38DEE4D, 0xB0FB0E4E)
SM3_T = [rotl32(0x79CC4519 if j < 16 else 0x7A879D8A, j) for j in range(64)]  # T_j <<< j


def _sm3_p0(x):
    return x ^ rotl32(x, 9) ^ rotl32(x, 17)


def _sm3_p1(x):
    return x ^ rotl32(x, 15) ^ rotl32(x, 23)


def _sm3_compress(v, block):
    w = list(struct.unpack(">16I", block))
    for j in range(16, 68):
        w.append(_sm3_p1(w[j - 16] ^ w[j - 9] ^ rotl32(w[j - 3], 15)) ^ rotl32(w[j - 13], 7) ^ w[j - 6])
    a, b, c, d, e, f, g, h = v
    for j in range(64):
        a12 = rotl32(a, 12)
        ss1 = rotl32((a12 + e + SM3_T[j]) & MASK32, 7)
        ss2 = ss1 ^ a12
        if j < 16:
            ff, gg = a ^ b ^ c, e ^ f ^ g
        else:
            ff, gg = (a & b) | (a & c) | (b & c), (e & f) | (~e & g)
        tt1 = (ff + d + ss2 + (w[j] ^ w[j + 4])) & MASK32
        tt2 = (gg + h + ss1 + w[j]) & MASK32
        a, b, c, d = tt1, a, rotl32(b, 9), c
        e, f, g, h = _sm3_p0(tt2), e, rotl32(f, 19), g
    return tuple(x ^ y for x, y in zip(v, (a, b, c, d, e, f, g, h)))


def sm3(data):
    """SM3 digest (32 bytes) of `data`."""
    data = bytes(data)
    padded = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack(">Q", 8 * len(data))
    v = SM3_IV
    for i in range(0, len(padded), 64):
        v = _sm3_compress(v, padded[i : i + 64])
    return struct.pack(">8I", *v)


# --- SM4 (GB/T 32907-2016) -------------------------------------------------------------------

SM4_SBOX = bytes.fromhex(
    "d690e9fecce13db716b614c228fb2c05"
    "2b679a762abe04c3aa44132649860699"
    "9c4250f491ef987a33540b43edcfac62"
    "e4b31ca9c908e89580df94fa758f3fa6"
    "4707a7fcf37317ba83593c19e6854fa8"
    "686b81b27164da8bf8eb0f4b70569d35"
    "1e240e5e6358d1a225227c3b01217887"
    "d40046579fd327524c3602e7a0c4c89e"
    "eabf8ad240c738b5a3f7f2cef96115a1"
    "e0ae5da49b341a55ad933230f58cb1e3"
    "1df6e22e8266ca60c02923ab0d534e6f"
    "d5db3745defd8e2f03ff6a726d6c5b51"
    "8d1baf92bbddbc7f11d95c411f105ad8"
    "0ac13188a5cd7bbd2d74d012b8e5b4b0"
    "8969974a0c96777e65b9f109c56ec684"
    "18f07dec3adc4d2079ee5f3ed7cb3948"
)
SM4_FK = (0xA3B1BAC6, 0x56AA3350, 0x677D9197, 0xB27022DC)
# CK_i = (ck_i0, ck_i1, ck_i2, ck_i3) with ck_ij = (4i + j) * 7 mod 256.
SM4_CK = [int.from_bytes(bytes((4 * i + j) * 7 % 256 for j in range(4)), "big") for i in range(32)]


def _sm4_tau(x):
    return int.from_bytes(bytes(SM4_SBOX[b] for b in x.to_bytes(4, "big")), "big")


def _sm4_l(b):  # the round's linear map
    return b ^ rotl32(b, 2) ^ rotl32(b, 10) ^ rotl32(b, 18) ^ rotl32(b, 24)


def _sm4_l_key(b):  # the key schedule's linear map
    return b ^ rotl32(b, 13) ^ rotl32(b, 23)


# T = L(tau(.)) one input byte at a time: T(x) = XOR over the 4 bytes of TABLE[i][byte_i].
_SM4_TABLES = [[_sm4_l(SM4_SBOX[v] << (24 - 8 * i)) for v in range(256)] for i in range(4)]


class SM4:
    """The SM4 block cipher (encryption only: GCM needs no more)."""

    def __init__(self, key):
        if len(key) != 16:
            raise ValueError("an SM4 key is 16 bytes")
        k = [m ^ f for m, f in zip(struct.unpack(">4I", key), SM4_FK)]
        self.round_keys = []
        for i in range(32):
            k.append(k[i] ^ _sm4_l_key(_sm4_tau(k[i + 1] ^ k[i + 2] ^ k[i + 3] ^ SM4_CK[i])))
            self.round_keys.append(k[-1])

    def encrypt_block(self, block):
        t0, t1, t2, t3 = _SM4_TABLES
        x0, x1, x2, x3 = struct.unpack(">4I", block)
        for rk in self.round_keys:
            u = x1 ^ x2 ^ x3 ^ rk
            x0, x1, x2, x3 = x1, x2, x3, x0 ^ t0[u >> 24] ^ t1[(u >> 16) & 0xFF] ^ t2[(u >> 8) & 0xFF] ^ t3[u & 0xFF]
        return struct.pack(">4I", x3, x2, x1, x0)


# --- GCM over SM4 (NIST SP 800-38D) ----------------------------------------------------------

GCM_TAG_LEN = 16
_GCM_R = 0xE1 << 120


class AuthenticationError(Exception):
    """A GCM tag did not verify."""


def _gf128_mul(x, y):
    """x * y in GCM's bit-reflected GF(2^128), blocks as big-endian ints."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _GCM_R if v & 1 else v >> 1
    return z


def _ghash(h, data):
    """GHASH_H over `data`, zero-padded to whole blocks."""
    data += b"\x00" * (-len(data) % 16)
    y = 0
    for i in range(0, len(data), 16):
        y = _gf128_mul(y ^ int.from_bytes(data[i : i + 16], "big"), h)
    return y


def _gcm_pad(data):
    return data + b"\x00" * (-len(data) % 16)


class SM4GCM:
    """SM4-GCM with a 16-byte tag; sealed output is ciphertext || tag."""

    def __init__(self, key):
        self.cipher = SM4(key)
        self.h = int.from_bytes(self.cipher.encrypt_block(b"\x00" * 16), "big")

    def _j0(self, iv):
        if not iv:
            raise ValueError("GCM forbids an empty IV")
        if len(iv) == 12:
            return iv + b"\x00\x00\x00\x01"
        return _ghash(self.h, _gcm_pad(iv) + struct.pack(">QQ", 0, 8 * len(iv))).to_bytes(16, "big")

    def _ctr(self, j0, data):
        out = bytearray()
        prefix, counter = j0[:12], int.from_bytes(j0[12:], "big")
        for i in range(0, len(data), 16):
            counter = (counter + 1) & MASK32
            stream = self.cipher.encrypt_block(prefix + counter.to_bytes(4, "big"))
            out += bytes(a ^ b for a, b in zip(data[i : i + 16], stream))
        return bytes(out)

    def _tag(self, j0, aad, ct):
        s = _ghash(self.h, _gcm_pad(aad) + _gcm_pad(ct) + struct.pack(">QQ", 8 * len(aad), 8 * len(ct)))
        return (s ^ int.from_bytes(self.cipher.encrypt_block(j0), "big")).to_bytes(16, "big")

    def seal(self, iv, aad, plaintext):
        j0 = self._j0(bytes(iv))
        ct = self._ctr(j0, bytes(plaintext))
        return ct + self._tag(j0, bytes(aad), ct)

    def open(self, iv, aad, sealed):
        sealed = bytes(sealed)
        if len(sealed) < GCM_TAG_LEN:
            raise AuthenticationError("shorter than a tag")
        j0 = self._j0(bytes(iv))
        ct, tag = sealed[:-GCM_TAG_LEN], sealed[-GCM_TAG_LEN:]
        if not secrets.compare_digest(self._tag(j0, bytes(aad), ct), tag):
            raise AuthenticationError("tag mismatch")
        return self._ctr(j0, ct)


# --- SM2 curve arithmetic --------------------------------------------------------------------


class Curve:
    """A prime-order short Weierstrass curve y^2 = x^3 + ax + b over F_p, points as (x, y)
    tuples of ints and None for the point at infinity. Jacobian coordinates inside."""

    def __init__(self, name, p, a, b, n, gx, gy):
        self.name, self.p, self.a, self.b, self.n = name, p, a, b, n
        self.g = (gx, gy)
        self.size = (p.bit_length() + 7) // 8
        if not self.on_curve(self.g):
            raise ValueError("generator not on the curve")

    def on_curve(self, point):
        if point is None:
            return False
        x, y = point
        p = self.p
        return 0 <= x < p and 0 <= y < p and (y * y - x * x * x - self.a * x - self.b) % p == 0

    def _double(self, jp):
        x, y, z = jp
        if z == 0 or y == 0:
            return (1, 1, 0)
        p = self.p
        yy = y * y % p
        s = 4 * x * yy % p
        zz = z * z % p
        m = (3 * x * x + self.a * zz * zz) % p
        x3 = (m * m - 2 * s) % p
        return x3, (m * (s - x3) - 8 * yy * yy) % p, 2 * y * z % p

    def _add(self, jp, jq):
        if jp[2] == 0:
            return jq
        if jq[2] == 0:
            return jp
        p = self.p
        x1, y1, z1 = jp
        x2, y2, z2 = jq
        z1z1, z2z2 = z1 * z1 % p, z2 * z2 % p
        u1, u2 = x1 * z2z2 % p, x2 * z1z1 % p
        s1, s2 = y1 * z2 * z2z2 % p, y2 * z1 * z1z1 % p
        if u1 == u2:
            return self._double(jp) if s1 == s2 else (1, 1, 0)
        h, r = (u2 - u1) % p, (s2 - s1) % p
        hh = h * h % p
        hhh, v = h * hh % p, u1 * hh % p
        x3 = (r * r - hhh - 2 * v) % p
        return x3, (r * (v - x3) - s1 * hhh) % p, h * z1 * z2 % p

    def _affine(self, jp):
        x, y, z = jp
        if z == 0:
            return None
        zi = pow(z, -1, self.p)
        zi2 = zi * zi % self.p
        return x * zi2 % self.p, y * zi2 * zi % self.p

    def add(self, p1, p2):
        to_j = lambda pt: (1, 1, 0) if pt is None else (pt[0], pt[1], 1)  # noqa: E731
        return self._affine(self._add(to_j(p1), to_j(p2)))

    def mul(self, k, point=None):
        """[k]point (point defaults to G), by a 4-bit fixed window."""
        point = self.g if point is None else point
        k %= self.n
        if point is None or k == 0:
            return None
        table = [(1, 1, 0), (point[0], point[1], 1)]
        for _ in range(14):
            table.append(self._add(table[-1], table[1]))
        acc = (1, 1, 0)
        for shift in range(4 * ((k.bit_length() + 3) // 4) - 4, -1, -4):
            for _ in range(4):
                acc = self._double(acc)
            acc = self._add(acc, table[(k >> shift) & 0xF])
        return self._affine(acc)

    def point_to_bytes(self, point):
        """Uncompressed SEC1: 04 || x || y."""
        return b"\x04" + point[0].to_bytes(self.size, "big") + point[1].to_bytes(self.size, "big")

    def point_from_bytes(self, data):
        """Parses 04 || x || y, refusing other forms and points off the curve."""
        data = bytes(data)
        if len(data) != 1 + 2 * self.size or data[0] != 4:
            raise ValueError("not an uncompressed point")
        point = (int.from_bytes(data[1 : 1 + self.size], "big"), int.from_bytes(data[1 + self.size :], "big"))
        if not self.on_curve(point):
            raise ValueError("point not on the curve")
        return point


# The recommended curve of GB/T 32918.5-2017 (GM/T 0003.5), "sm2p256v1".
SM2 = Curve(
    "sm2p256v1",
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
)


def point_to_hex(point, curve=SM2):
    return curve.point_to_bytes(point).hex()


def point_from_hex(text, curve=SM2):
    return curve.point_from_bytes(bytes.fromhex(text))


def generate_key(curve=SM2):
    """A fresh key pair: (d, public key as 04 || x || y lower-case hex)."""
    d = secrets.randbelow(curve.n - 1) + 1
    return d, point_to_hex(curve.mul(d), curve)


# --- The key exchange (GM/T 0003.3) ----------------------------------------------------------


def z_value(user_id, public, curve=SM2):
    """Z = SM3(ENTL || ID || a || b || xG || yG || xP || yP), ENTL the id's bit length."""
    ident = user_id.encode() if isinstance(user_id, str) else bytes(user_id)
    if len(ident) * 8 > 0xFFFF:
        raise ValueError("user id too long for ENTL")
    fe = lambda v: v.to_bytes(curve.size, "big")  # noqa: E731
    parts = [struct.pack(">H", 8 * len(ident)), ident, fe(curve.a), fe(curve.b)]
    parts += [fe(curve.g[0]), fe(curve.g[1]), fe(public[0]), fe(public[1])]
    return sm3(b"".join(parts))


def kdf(z, klen):
    """The SM3 KDF: SM3(z || ct) for ct = 1, 2, ... (32-bit big-endian), cut to klen bytes."""
    out = b"".join(sm3(z + struct.pack(">I", ct)) for ct in range(1, (klen + 31) // 32 + 1))
    return out[:klen]


def x_bar(x, curve=SM2):
    """x̄ = 2^w + (x mod 2^w), w = ceil(ceil(log2 n) / 2) - 1 (127 on SM2)."""
    w = (curve.n.bit_length() + 1) // 2 - 1
    return (1 << w) | (x & ((1 << w) - 1))


def shared_point(d_own, r_own, r_own_public, p_peer, r_peer, curve=SM2):
    """(t, [t](P_peer + [x̄_peer]R_peer)) with t = (d + x̄ · r) mod n: A gets (t_A, U), B (t_B, V).
    The cofactor is 1 on SM2, so [h · t] is [t]."""
    t = (d_own + x_bar(r_own_public[0], curve) * r_own) % curve.n
    point = curve.mul(t, curve.add(p_peer, curve.mul(x_bar(r_peer[0], curve), r_peer)))
    if point is None:
        raise ValueError("shared point at infinity")
    return t, point


def exchange_outputs(shared, z_a, z_b, r_a, r_b, klen=32, curve=SM2):
    """What both sides derive from U = V: (K, S_B, S_A)."""
    fe = lambda v: v.to_bytes(curve.size, "big")  # noqa: E731
    x, y = fe(shared[0]), fe(shared[1])
    k = kdf(x + y + z_a + z_b, klen)
    inner = sm3(x + z_a + z_b + fe(r_a[0]) + fe(r_a[1]) + fe(r_b[0]) + fe(r_b[1]))
    return k, sm3(b"\x02" + y + inner), sm3(b"\x03" + y + inner)


class ConfirmationError(Exception):
    """The responder's S_B does not match: it does not hold the key we think it does."""


class Initiator:
    """Client side (A): `ephemeral` is R_A to send; `finish` checks S_B and gives (K, S_A)."""

    def __init__(self, d_a, id_a, p_b, id_b, r_a=None, curve=SM2):
        self.curve = curve
        self.d_a = d_a
        self.r_a = secrets.randbelow(curve.n - 1) + 1 if r_a is None else r_a
        self.p_b = p_b
        self.ephemeral = curve.mul(self.r_a)
        self.z_a = z_value(id_a, curve.mul(d_a), curve)
        self.z_b = z_value(id_b, p_b, curve)

    def finish(self, r_b, s_b, klen=32):
        _, u = shared_point(self.d_a, self.r_a, self.ephemeral, self.p_b, r_b, self.curve)
        k, s1, s_a = exchange_outputs(u, self.z_a, self.z_b, self.ephemeral, r_b, klen, self.curve)
        if not secrets.compare_digest(s1, bytes(s_b)):
            raise ConfirmationError("S_B does not match")
        return k, s_a


# --- Records ---------------------------------------------------------------------------------

CLIENT_TO_SERVER = 1
SERVER_TO_CLIENT = 2


def record_nonce(direction, seq):
    """4-byte direction || 8-byte big-endian seq."""
    return struct.pack(">IQ", direction, seq)


def record_aad(session, seq):
    """The session string's UTF-8 bytes || 8-byte big-endian seq."""
    return session.encode() + struct.pack(">Q", seq)


def seal_record(key, direction, session, seq, plaintext):
    return SM4GCM(key).seal(record_nonce(direction, seq), record_aad(session, seq), plaintext)


def open_record(key, direction, session, seq, record):
    return SM4GCM(key).open(record_nonce(direction, seq), record_aad(session, seq), record)


def compact_json(value):
    return json.dumps(value, separators=(",", ":")).encode()


# --- The HTTP client -------------------------------------------------------------------------


class ChannelError(Exception):
    """The server refused a step: `status` is the HTTP status, `body` its parsed JSON (or text)."""

    def __init__(self, step, response):
        self.status = response.status_code
        try:
            self.body = response.json()
        except ValueError:
            self.body = response.text
        super().__init__(f"{step}: HTTP {self.status} {self.body}")

    @property
    def code(self):
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


class SecureClient:
    """One client of the secure channel. After `handshake()`, `call()` runs wallet requests
    through the channel. `session`, `next_seq`, `keys` and the lower-level methods (`start`,
    `confirm`, `seal`, `open`, `post_record`) are open so tests can replay and forge.

    The `session` argument is the `requests.Session` to use (kept as `http`); the attribute
    `session` is the secure session's string once `start()` has run."""

    def __init__(self, base_url, client_id, user_id, private_key_int, session=None):
        import requests  # here, so the offline tests need only the standard library

        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.user_id = user_id
        self.d = private_key_int
        self.public_hex = point_to_hex(SM2.mul(private_key_int))
        self.http = session if session is not None else requests.Session()
        self.server_key = None
        self.server_id = None
        self.session = None
        self.keys = None
        self.s_a = None
        self.next_seq = 1

    def _url(self, path):
        return self.base_url + path

    def fetch_server_key(self):
        response = self.http.get(self._url("/v1/secure/server-key"))
        if response.status_code != 200:
            raise ChannelError("server-key", response)
        body = response.json()
        self.server_key, self.server_id = point_from_hex(body["public_key"]), body["id"]
        return body

    def start(self, r_a=None):
        """Steps 1-2: the server key, then R_A out and (session, R_B, S_B) back; S_B is checked
        and S_A kept for `confirm`. The session carries nothing until then."""
        if self.server_key is None:
            self.fetch_server_key()
        initiator = Initiator(self.d, self.user_id, self.server_key, self.server_id, r_a)
        response = self.http.post(
            self._url("/v1/secure/handshake"),
            json={"client_id": self.client_id, "id": self.user_id, "ephemeral_key": point_to_hex(initiator.ephemeral)},
        )
        if response.status_code != 200:
            raise ChannelError("handshake", response)
        body = response.json()
        self.keys, self.s_a = initiator.finish(point_from_hex(body["ephemeral_key"]), bytes.fromhex(body["confirm"]))
        self.session, self.next_seq = body["session"], 1
        return body

    def confirm(self, s_a_hex=None):
        """Step 3: sends S_A (or `s_a_hex` instead, to test a wrong one); the raw response."""
        return self.http.post(
            self._url(f"/v1/secure/{self.session}/confirm"),
            json={"confirm": self.s_a.hex() if s_a_hex is None else s_a_hex},
        )

    def handshake(self):
        self.start()
        response = self.confirm()
        if response.status_code != 204:
            raise ChannelError("confirm", response)
        return self.session

    def seal(self, seq, plaintext):
        """ct || tag of a client-to-server record."""
        if isinstance(plaintext, str):
            plaintext = plaintext.encode()
        return seal_record(self.keys[:16], CLIENT_TO_SERVER, self.session, seq, plaintext)

    def open(self, seq, ct):
        """The plaintext of a server-to-client record; AuthenticationError if it is not genuine."""
        return open_record(self.keys[16:], SERVER_TO_CLIENT, self.session, seq, ct)

    def post_record(self, seq, ct, session=None):
        """Step 4 on the wire: POST {seq, ct} as given; the raw response."""
        return self.http.post(
            self._url(f"/v1/secure/{self.session if session is None else session}"),
            json={"seq": seq, "ct": bytes(ct).hex()},
        )

    def call(self, method, path, body=None):
        """One wallet request through the channel: (the inner status, the inner body)."""
        seq = self.next_seq
        self.next_seq += 1
        request = compact_json({"method": method, "path": path, "body": body})
        response = self.post_record(seq, self.seal(seq, request))
        if response.status_code != 200:
            raise ChannelError(f"record {seq}", response)
        answer = response.json()
        if answer.get("seq") != seq:
            raise ValueError(f"answer to record {seq} came with seq {answer.get('seq')}")
        inner = json.loads(self.open(seq, bytes.fromhex(answer["ct"])))
        return inner["status"], inner["body"]
