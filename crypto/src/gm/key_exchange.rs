//! The SM2 key exchange of GM/T 0003.3 §6 with key confirmation: the client is the initiator
//! A, the server the responder B, and both end up with the same 32 bytes K
//! ([`SessionKeys`]) after proving it to each other (S_B, then S_A).
//!
//! RustCrypto's `sm2` crate has signatures and encryption but no key exchange, so the protocol
//! is written here, over its types: scalars, points and the point arithmetic come from
//! `elliptic-curve`/`primeorder`, and the code is generic over the curve so that the same lines
//! run the standard's worked example, which uses a 256-bit example curve, not SM2's.
//!
//! With n the group order, w = ceil(ceil(log2 n) / 2) - 1 (127 for 256-bit n) and, for a point
//! with x-coordinate x, x̄ = 2^w + (x mod 2^w):
//!
//! ```text
//! A: rA random, RA = [rA]G = (x1, y1)                                  -> RA to B
//! B: rB random, RB = [rB]G = (x2, y2)
//!    tB = (dB + x̄2 · rB) mod n
//!    V  = [h · tB](PA + [x̄1]RA) = (xV, yV), refused if V = O
//!    K  = KDF(xV || yV || ZA || ZB, klen)
//!    SB = SM3(0x02 || yV || SM3(xV || ZA || ZB || x1 || y1 || x2 || y2))
//!    S2 = SM3(0x03 || yV || SM3(xV || ZA || ZB || x1 || y1 || x2 || y2))   -> RB, SB to A
//! A: tA = (dA + x̄1 · rA) mod n
//!    U  = [h · tA](PB + [x̄2]RB) = (xU, yU), refused if U = O
//!    K  = KDF(xU || yU || ZA || ZB, klen)
//!    S1 = SM3(0x02 || yU || SM3(xU || ZA || ZB || x1 || y1 || x2 || y2)), must equal SB
//!    SA = SM3(0x03 || yU || SM3(xU || ZA || ZB || x1 || y1 || x2 || y2))   -> SA to B
//! B: SA must equal S2
//! ```
//!
//! U = V because both are [tA · tB]G. ZA and ZB are the parties' [`z_value`]s; the cofactor h
//! is 1 on both curves used here (they have prime order), so [h · t] is [t]. Here klen is 32
//! bytes: K[..16] keys client-to-server records, K[16..] server-to-client ones. Coordinates are
//! 32 big-endian bytes each.
//!
//! Randomness is passed in: each side gives 32 random bytes for its ephemeral scalar r, which
//! must lie in [1, n-1] (a uniformly random draw misses with probability below 2^-32 on SM2;
//! then [`GmError::SecretScalar`] asks for a fresh draw).

use std::fmt;

use primeorder::PrimeCurveParams;
use sm2::elliptic_curve::array::typenum::Unsigned;
use sm2::elliptic_curve::ff::PrimeField;
use sm2::elliptic_curve::group::Group;
use sm2::elliptic_curve::ops::Reduce;
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::elliptic_curve::subtle::ConstantTimeEq;
use sm2::elliptic_curve::{AffinePoint, FieldBytes, FieldBytesSize, PublicKey, Scalar, SecretKey};
use sm2::Sm2;
use sm3::{Digest, Sm3};
use zeroize::Zeroizing;

use super::error::GmError;
use super::key_pair::KeyPair;
use super::public_key::public_key_to_hex;
use super::session_keys::SessionKeys;
use super::sm3_kdf::sm3_kdf;
use super::z_value::z_value;

/// A key confirmation value, S_B or S_A: an SM3 digest, public once sent.
#[derive(Clone, Copy)]
pub struct Confirmation([u8; 32]);

impl Confirmation {
    pub fn from_bytes(bytes: &[u8]) -> Result<Confirmation, GmError> {
        let bytes = <[u8; 32]>::try_from(bytes).map_err(|_| GmError::Confirmation)?;
        Ok(Confirmation(bytes))
    }

    /// From its 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<Confirmation, GmError> {
        super::error::decode_hex_array("confirmation", text).map(Confirmation)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, as on the wire.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Constant-time, like any comparison of a value derived from the shared secret.
    fn check(&self, received: &Confirmation) -> Result<(), GmError> {
        if bool::from(self.0.ct_eq(&received.0)) {
            Ok(())
        } else {
            Err(GmError::Confirmation)
        }
    }
}

impl fmt::Debug for Confirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Confirmation({})", self.to_hex())
    }
}

/// The client's side (A) between sending RA and receiving RB and S_B.
pub struct Initiator<C: PrimeCurveParams = Sm2> {
    own_static: SecretKey<C>,
    ephemeral: SecretKey<C>,
    ephemeral_public: PublicKey<C>,
    responder_static: PublicKey<C>,
    za: [u8; 32],
    zb: [u8; 32],
}

impl<C: PrimeCurveParams> Initiator<C> {
    /// Steps A1-A3: RA = \[rA\]G, with rA from `ephemeral_random` (32 random bytes).
    pub fn start(
        own: &KeyPair<C>,
        own_id: &str,
        responder_static: &PublicKey<C>,
        responder_id: &str,
        ephemeral_random: &[u8],
    ) -> Result<Initiator<C>, GmError> {
        let ephemeral = ephemeral_secret::<C>(ephemeral_random)?;
        Ok(Initiator {
            own_static: own.secret_key().clone(),
            ephemeral_public: ephemeral.public_key(),
            ephemeral,
            responder_static: *responder_static,
            za: z_value(own_id, own.public_key())?,
            zb: z_value(responder_id, responder_static)?,
        })
    }

    /// RA, to send to the responder.
    pub fn ephemeral_public(&self) -> &PublicKey<C> {
        &self.ephemeral_public
    }

    /// Steps A4-A10: checks the responder's S_B and returns the keys and S_A (to send back).
    pub fn finish(
        self,
        responder_ephemeral: &PublicKey<C>,
        responder_confirmation: &Confirmation,
    ) -> Result<(SessionKeys, Confirmation), GmError> {
        let shared = shared_point(
            &self.own_static,
            &self.ephemeral,
            &self.ephemeral_public,
            &self.responder_static,
            responder_ephemeral,
        )?;
        let transcript = Transcript {
            za: &self.za,
            zb: &self.zb,
            initiator_ephemeral: &self.ephemeral_public,
            responder_ephemeral,
        };
        let (s_b, s_a) = transcript.confirmations(&shared);
        s_b.check(responder_confirmation)?;
        Ok((transcript.session_keys(&shared), s_a))
    }
}

/// Redacted: only the public values are shown.
impl<C: PrimeCurveParams> fmt::Debug for Initiator<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Initiator")
            .field("ephemeral_public", &public_key_to_hex(&self.ephemeral_public))
            .field("responder_static", &public_key_to_hex(&self.responder_static))
            .finish_non_exhaustive()
    }
}

/// The server's side (B) between answering with RB and S_B and receiving S_A. It holds the
/// session keys but hands them out only once S_A checks.
pub struct Responder<C: PrimeCurveParams = Sm2> {
    ephemeral_public: PublicKey<C>,
    confirmation: Confirmation,
    expected_confirmation: Confirmation,
    keys: SessionKeys,
}

impl<C: PrimeCurveParams> Responder<C> {
    /// Steps B1-B9: RB = \[rB\]G with rB from `ephemeral_random` (32 random bytes), the shared
    /// point V, K, S_B, and the S_A to expect.
    pub fn respond(
        own: &KeyPair<C>,
        own_id: &str,
        initiator_static: &PublicKey<C>,
        initiator_id: &str,
        initiator_ephemeral: &PublicKey<C>,
        ephemeral_random: &[u8],
    ) -> Result<Responder<C>, GmError> {
        let ephemeral = ephemeral_secret::<C>(ephemeral_random)?;
        let ephemeral_public = ephemeral.public_key();
        let za = z_value(initiator_id, initiator_static)?;
        let zb = z_value(own_id, own.public_key())?;
        let shared = shared_point(
            own.secret_key(),
            &ephemeral,
            &ephemeral_public,
            initiator_static,
            initiator_ephemeral,
        )?;
        let transcript = Transcript {
            za: &za,
            zb: &zb,
            initiator_ephemeral,
            responder_ephemeral: &ephemeral_public,
        };
        let (confirmation, expected_confirmation) = transcript.confirmations(&shared);
        Ok(Responder {
            ephemeral_public,
            confirmation,
            expected_confirmation,
            keys: transcript.session_keys(&shared),
        })
    }

    /// RB, to send to the initiator.
    pub fn ephemeral_public(&self) -> &PublicKey<C> {
        &self.ephemeral_public
    }

    /// S_B, to send to the initiator.
    pub fn confirmation(&self) -> &Confirmation {
        &self.confirmation
    }

    /// Step B10: checks the initiator's S_A; only then are the keys handed out.
    pub fn confirm(self, initiator_confirmation: &Confirmation) -> Result<SessionKeys, GmError> {
        self.expected_confirmation.check(initiator_confirmation)?;
        Ok(self.keys)
    }
}

/// Redacted: only the public values are shown.
impl<C: PrimeCurveParams> fmt::Debug for Responder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("ephemeral_public", &public_key_to_hex(&self.ephemeral_public))
            .field("confirmation", &self.confirmation)
            .finish_non_exhaustive()
    }
}

/// r in [1, n-1] from exactly 32 (one field's worth of) random bytes.
fn ephemeral_secret<C: PrimeCurveParams>(random: &[u8]) -> Result<SecretKey<C>, GmError> {
    let bytes = <&FieldBytes<C>>::try_from(random).map_err(|_| GmError::SecretScalar)?;
    SecretKey::<C>::from_bytes(bytes).map_err(|_| GmError::SecretScalar)
}

/// x̄ = 2^w + (x mod 2^w), w = ceil(ceil(log2 n) / 2) - 1, from the big-endian x-coordinate.
/// x̄ < 2^(w+1) < n, so it is its own residue mod n.
fn x_bar<C: PrimeCurveParams>(point: &AffinePoint<C>) -> Scalar<C> {
    let w = (Scalar::<C>::NUM_BITS as usize).div_ceil(2) - 1;
    let x = point.x();
    let mut bar = FieldBytes::<C>::default();
    let len = FieldBytesSize::<C>::USIZE;
    // Byte i from the end holds bits 8i..8i+8: keep those below w, then set bit w.
    for from_end in 0..len.min(w.div_ceil(8)) {
        let kept_bits = (w - 8 * from_end).min(8);
        let mask = if kept_bits == 8 { 0xff } else { (1u8 << kept_bits) - 1 };
        bar[len - 1 - from_end] = x[len - 1 - from_end] & mask;
    }
    bar[len - 1 - w / 8] |= 1 << (w % 8);
    <Scalar<C> as Reduce<FieldBytes<C>>>::reduce(&bar)
}

/// [h · t](P' + [x̄']R') with t = (d + x̄ · r) mod n: V for the responder, U for the initiator.
fn shared_point<C: PrimeCurveParams>(
    own_static: &SecretKey<C>,
    own_ephemeral: &SecretKey<C>,
    own_ephemeral_public: &PublicKey<C>,
    peer_static: &PublicKey<C>,
    peer_ephemeral: &PublicKey<C>,
) -> Result<Zeroizing<AffinePoint<C>>, GmError> {
    let d = Zeroizing::new(*own_static.to_nonzero_scalar());
    let r = Zeroizing::new(*own_ephemeral.to_nonzero_scalar());
    let t = Zeroizing::new(*d + x_bar::<C>(own_ephemeral_public.as_affine()) * *r);
    let peer = peer_static.to_projective() + peer_ephemeral.to_projective() * x_bar::<C>(peer_ephemeral.as_affine());
    // h = 1: the curves here have prime order, so [h · t] is [t].
    let shared = Zeroizing::new(peer * *t);
    if bool::from(shared.is_identity()) {
        return Err(GmError::SharedPointAtInfinity);
    }
    Ok(Zeroizing::new(shared.to_affine()))
}

/// What both sides hash besides the shared point.
struct Transcript<'a, C: PrimeCurveParams> {
    za: &'a [u8; 32],
    zb: &'a [u8; 32],
    initiator_ephemeral: &'a PublicKey<C>,
    responder_ephemeral: &'a PublicKey<C>,
}

impl<C: PrimeCurveParams> Transcript<'_, C> {
    /// K = KDF(x || y || ZA || ZB, 32).
    fn session_keys(&self, shared: &AffinePoint<C>) -> SessionKeys {
        let mut k = Zeroizing::new([0u8; SessionKeys::LEN]);
        self.key_bytes(shared, &mut *k);
        SessionKeys::from_bytes(&k)
    }

    /// K of any length, for the vectors' klen.
    fn key_bytes(&self, shared: &AffinePoint<C>, out: &mut [u8]) {
        let (x, y) = (Zeroizing::new(shared.x()), Zeroizing::new(shared.y()));
        sm3_kdf(&[&x, &y, self.za, self.zb], out);
    }

    /// (SM3(0x02 || y || inner), SM3(0x03 || y || inner)): S_B and S_A (S1 and S2 in the
    /// standard's words), inner = SM3(x || ZA || ZB || x1 || y1 || x2 || y2).
    fn confirmations(&self, shared: &AffinePoint<C>) -> (Confirmation, Confirmation) {
        let (ra, rb) = (
            self.initiator_ephemeral.as_affine(),
            self.responder_ephemeral.as_affine(),
        );
        let mut inner = Sm3::new();
        inner.update(Zeroizing::new(shared.x()).as_slice());
        inner.update(self.za);
        inner.update(self.zb);
        inner.update(ra.x());
        inner.update(ra.y());
        inner.update(rb.x());
        inner.update(rb.y());
        let inner = inner.finalize();
        let y = Zeroizing::new(shared.y());
        let tagged = |tag: u8| {
            let mut outer = Sm3::new();
            outer.update([tag]);
            outer.update(y.as_slice());
            outer.update(inner);
            Confirmation(outer.finalize().into())
        };
        (tagged(0x02), tagged(0x03))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gm::example_curve::ExampleCurve;
    use crate::gm::key_pair::Sm2KeyPair;
    use crate::gm::public_key::public_key_from_hex;
    use crate::test_vectors::{bytes, text, wallet_section};
    use proptest::prelude::*;
    use serde_json::Value;

    /// Runs one vector through both roles' public API, checking every intermediate value.
    fn check_vector<C: PrimeCurveParams>(entry: &Value) {
        let a = KeyPair::<C>::from_secret_bytes(&bytes(entry, "dA")).unwrap();
        let b = KeyPair::<C>::from_secret_bytes(&bytes(entry, "dB")).unwrap();
        assert_eq!(a.public_key_hex(), text(entry, "PA").to_lowercase());
        assert_eq!(b.public_key_hex(), text(entry, "PB").to_lowercase());
        let (id_a, id_b) = (text(entry, "IDA"), text(entry, "IDB"));

        let initiator = Initiator::start(&a, id_a, b.public_key(), id_b, &bytes(entry, "rA")).unwrap();
        assert_eq!(
            public_key_to_hex(initiator.ephemeral_public()),
            text(entry, "RA").to_lowercase()
        );
        let ra = public_key_from_hex::<C>(text(entry, "RA")).unwrap();
        let responder = Responder::respond(&b, id_b, a.public_key(), id_a, &ra, &bytes(entry, "rB")).unwrap();
        assert_eq!(
            public_key_to_hex(responder.ephemeral_public()),
            text(entry, "RB").to_lowercase()
        );
        assert_eq!(responder.confirmation().as_bytes().to_vec(), bytes(entry, "SB"));

        // The vector's klen (16 bytes) through the same transcript code...
        let za = z_value(id_a, a.public_key()).unwrap();
        let zb = z_value(id_b, b.public_key()).unwrap();
        let rb = *responder.ephemeral_public();
        let transcript = Transcript {
            za: &za,
            zb: &zb,
            initiator_ephemeral: &ra,
            responder_ephemeral: &rb,
        };
        let k = bytes(entry, "K");
        let v = shared_point(
            b.secret_key(),
            &ephemeral_secret::<C>(&bytes(entry, "rB")).unwrap(),
            &rb,
            a.public_key(),
            &ra,
        )
        .unwrap();
        let mut key = vec![0u8; k.len()];
        transcript.key_bytes(&v, &mut key);
        assert_eq!(key, k);

        // ...and the protocol's 32 bytes, of which K is the prefix (the KDF is a counter mode).
        let s_b = Confirmation::from_bytes(&bytes(entry, "SB")).unwrap();
        let (initiator_keys, s_a) = initiator.finish(&rb, &s_b).unwrap();
        assert_eq!(s_a.as_bytes().to_vec(), bytes(entry, "SA"));
        let responder_keys = responder.confirm(&s_a).unwrap();
        assert_eq!(initiator_keys.to_bytes(), responder_keys.to_bytes());
        assert_eq!(initiator_keys.to_bytes()[..k.len()], k[..]);
    }

    #[test]
    fn gmt_0003_3_example_and_the_sm2_curve_vector() {
        let entries = wallet_section("sm2_key_exchange");
        let mut curves = Vec::new();
        for entry in &entries {
            match text(entry, "curve") {
                "gmt0003-example-fp256" => check_vector::<ExampleCurve>(entry),
                "sm2p256v1" => check_vector::<Sm2>(entry),
                other => panic!("unknown curve {other}"),
            }
            curves.push(text(entry, "curve").to_string());
        }
        assert_eq!(curves, ["gmt0003-example-fp256", "sm2p256v1"]);
    }

    #[test]
    fn x_bar_keeps_the_low_127_bits_and_sets_bit_127() {
        let g = PublicKey::<Sm2>::from_secret_scalar(&sm2::NonZeroScalar::new(sm2::Scalar::ONE).unwrap());
        let x = g.as_affine().x();
        let mut expected = [0u8; 32];
        expected[16..].copy_from_slice(&x[16..]);
        expected[16] = (expected[16] & 0x7f) | 0x80;
        assert_eq!(x_bar::<Sm2>(g.as_affine()).to_repr().as_slice(), expected);
    }

    fn pair(byte: u8) -> KeyPair<Sm2> {
        KeyPair::from_secret_bytes(&[byte; 32]).unwrap()
    }

    /// A client "client" that expects the server id `expected_server`, and a server
    /// "server" answering it with rB = [4; 32].
    fn exchange(a: &KeyPair<Sm2>, b: &KeyPair<Sm2>, expected_server: &str, ra: u8) -> (Initiator, Responder) {
        let initiator = Initiator::start(a, "client", b.public_key(), expected_server, &[ra; 32]).unwrap();
        let responder = Responder::respond(
            b,
            "server",
            a.public_key(),
            "client",
            initiator.ephemeral_public(),
            &[4; 32],
        )
        .unwrap();
        (initiator, responder)
    }

    #[test]
    fn a_wrong_s_b_or_s_a_is_refused() {
        let (a, b) = (pair(1), pair(2));
        let (initiator, responder) = exchange(&a, &b, "server", 3);
        let mut bad = *responder.confirmation().as_bytes();
        bad[31] ^= 1;
        let wrong_s_b = Confirmation::from_bytes(&bad).unwrap();
        let rb = *responder.ephemeral_public();
        let initiator_again = Initiator::start(&a, "client", b.public_key(), "server", &[3; 32]).unwrap();
        assert_eq!(
            initiator_again.finish(&rb, &wrong_s_b).unwrap_err(),
            GmError::Confirmation
        );

        let (_, s_a) = initiator.finish(&rb, responder.confirmation()).unwrap();
        let mut bad = *s_a.as_bytes();
        bad[0] ^= 0x80;
        assert_eq!(
            responder.confirm(&Confirmation::from_bytes(&bad).unwrap()).unwrap_err(),
            GmError::Confirmation
        );
    }

    #[test]
    fn different_ids_or_keys_fail_confirmation() {
        let (a, b, mallory) = (pair(1), pair(2), pair(9));
        // The client expects another server id.
        let (initiator, responder) = exchange(&a, &b, "other-server", 3);
        assert_eq!(
            initiator
                .finish(responder.ephemeral_public(), responder.confirmation())
                .unwrap_err(),
            GmError::Confirmation
        );
        // Someone without B's private key answers for B.
        let initiator = Initiator::start(&a, "client", b.public_key(), "server", &[3; 32]).unwrap();
        let impostor = Responder::respond(
            &mallory,
            "server",
            a.public_key(),
            "client",
            initiator.ephemeral_public(),
            &[4; 32],
        )
        .unwrap();
        assert_eq!(
            initiator
                .finish(impostor.ephemeral_public(), impostor.confirmation())
                .unwrap_err(),
            GmError::Confirmation
        );
    }

    #[test]
    fn ephemeral_randomness_must_be_32_bytes_in_range() {
        let (a, b) = (pair(1), pair(2));
        for bad in [&[0u8; 32][..], &[0xff; 32][..], &[5; 31][..], &[5; 33][..]] {
            assert_eq!(
                Initiator::start(&a, "c", b.public_key(), "s", bad).unwrap_err(),
                GmError::SecretScalar
            );
            assert_eq!(
                Responder::respond(&b, "s", a.public_key(), "c", a.public_key(), bad).unwrap_err(),
                GmError::SecretScalar
            );
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let (a, b) = (pair(0x5a), pair(2));
        let (initiator, responder) = exchange(&a, &b, "server", 0x6b);
        for shown in [format!("{initiator:?}"), format!("{responder:?}")] {
            assert!(!shown.contains("5a5a5a") && !shown.contains("6b6b6b"), "{shown}");
        }
    }

    fn scalar_bytes() -> impl Strategy<Value = [u8; 32]> {
        // Below n (whose first byte is 0xff..., second 0xfe...) and not zero.
        any::<[u8; 32]>().prop_map(|mut b| {
            b[0] &= 0x7f;
            b[31] |= 1;
            b
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// Random keys on the SM2 curve: both sides derive the same keys and both
        /// confirmations check.
        #[test]
        fn both_sides_agree(d_a in scalar_bytes(), d_b in scalar_bytes(), r_a in scalar_bytes(), r_b in scalar_bytes()) {
            let (a, b) = (Sm2KeyPair::from_secret_bytes(&d_a).unwrap(), Sm2KeyPair::from_secret_bytes(&d_b).unwrap());
            let initiator = Initiator::start(&a, "alice@wallet", b.public_key(), "shardhub", &r_a).unwrap();
            let responder = Responder::respond(&b, "shardhub", a.public_key(), "alice@wallet",
                initiator.ephemeral_public(), &r_b).unwrap();
            let (initiator_keys, s_a) = initiator.finish(responder.ephemeral_public(), responder.confirmation()).unwrap();
            let responder_keys = responder.confirm(&s_a).unwrap();
            prop_assert_eq!(initiator_keys.to_bytes(), responder_keys.to_bytes());
            prop_assert_ne!(initiator_keys.client_to_server(), initiator_keys.server_to_client());
        }
    }
}
