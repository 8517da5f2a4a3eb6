//! The worked example of `docs/secure-channel.md`, run through this crate's code.
//!
//! The page's `worked-example` block is the single source of the example's bytes: this test
//! reads it at compile time, feeds the inputs (keys, ids, ephemeral scalars, session,
//! plaintexts) to [`Initiator`], [`Responder`] and [`ChannelCipher`], and asserts that every
//! other value in the block is what the code computes. The intermediate values that the
//! public API keeps inside (x̄, t, U, the KDF input, the confirmations' inner hash) are
//! recomputed here from the page's formulas with the curve arithmetic of the `sm2` crate, so
//! the page's formulas are checked too. A value in the block that no assertion reads fails
//! the test, so the page cannot carry an unchecked byte.
//!
//! Block format: `name = hex`, a long value continued on indented lines of hex, `#` comment
//! lines. `session` is text (the session string itself); every other value is hex bytes.

use std::cell::RefCell;
use std::collections::BTreeSet;

use sm2::elliptic_curve::ff::PrimeField;
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::elliptic_curve::PublicKey;
use sm2::{FieldBytes, ProjectivePoint, Scalar, Sm2};
use sm3::{Digest, Sm3};

use super::{
    public_key_from_bytes, public_key_to_bytes, record_aad, record_nonce, z_value, ChannelCipher, Confirmation,
    Direction, Initiator, Responder, Sm2KeyPair,
};

const DOC: &str = include_str!("../../../docs/secure-channel.md");
const FENCE: &str = "```worked-example\n";

/// The block's values in order, and the names an assertion has read.
struct Example {
    values: Vec<(String, String)>,
    read: RefCell<BTreeSet<String>>,
}

impl Example {
    fn from_doc() -> Example {
        let start = DOC
            .find(FENCE)
            .expect("docs/secure-channel.md has a worked-example block")
            + FENCE.len();
        let end = start + DOC[start..].find("\n```").expect("the worked-example block is closed");
        let mut values: Vec<(String, String)> = Vec::new();
        for line in DOC[start..end].lines() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            match trimmed.split_once(" = ") {
                Some((name, value)) => {
                    assert!(
                        values.iter().all(|(seen, _)| seen != name.trim()),
                        "{name} appears twice"
                    );
                    values.push((name.trim().to_string(), value.trim().to_string()));
                }
                None => {
                    assert!(line.starts_with(' '), "not `name = hex` nor a continuation: {line:?}");
                    values
                        .last_mut()
                        .expect("a continuation line after a value")
                        .1
                        .push_str(trimmed);
                }
            }
        }
        Example {
            values,
            read: RefCell::new(BTreeSet::new()),
        }
    }

    fn text(&self, name: &str) -> &str {
        let (_, value) = self
            .values
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("the worked example has no {name}"));
        self.read.borrow_mut().insert(name.to_string());
        value
    }

    /// A hex value's bytes; the page writes hex in lower case only.
    fn bytes(&self, name: &str) -> Vec<u8> {
        let text = self.text(name);
        assert_eq!(text, text.to_lowercase(), "{name} is not lower-case hex");
        hex::decode(text).unwrap_or_else(|e| panic!("{name} is not hex: {e}"))
    }

    fn array<const N: usize>(&self, name: &str) -> [u8; N] {
        self.bytes(name)
            .try_into()
            .unwrap_or_else(|v: Vec<u8>| panic!("{name} is {} bytes, not {N}", v.len()))
    }

    fn utf8(&self, name: &str) -> String {
        String::from_utf8(self.bytes(name)).unwrap_or_else(|_| panic!("{name} is not UTF-8"))
    }

    /// Asserts that `actual` is the value `name` (compared as hex, so a failure reads well).
    fn check(&self, name: &str, actual: &[u8]) {
        let expected = hex::encode(self.bytes(name));
        assert_eq!(hex::encode(actual), expected, "{name}");
    }

    fn assert_all_read(&self) {
        let read = self.read.borrow();
        let unread: Vec<&str> = self
            .values
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !read.contains(*name))
            .collect();
        assert!(unread.is_empty(), "values in the page that nothing checks: {unread:?}");
    }
}

fn scalar(bytes: &[u8]) -> Scalar {
    let mut repr = FieldBytes::default();
    repr[32 - bytes.len()..].copy_from_slice(bytes);
    Option::from(Scalar::from_repr(repr)).expect("a scalar below n")
}

/// x̄ = 2^127 + (x mod 2^127) as 16 bytes, from a point's 32-byte x.
fn x_bar(point: &PublicKey<Sm2>) -> [u8; 16] {
    let x = point.as_affine().x();
    let mut bar: [u8; 16] = x[16..].try_into().unwrap();
    bar[0] |= 0x80;
    bar
}

/// x || y of a projective point.
fn coordinates(point: ProjectivePoint) -> Vec<u8> {
    let affine = point.to_affine();
    [affine.x().to_vec(), affine.y().to_vec()].concat()
}

fn sm3(parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = Sm3::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

#[test]
fn the_documented_worked_example_is_what_the_code_computes() {
    let example = Example::from_doc();

    // Inputs and long-term keys.
    let (id_a, id_b) = (example.utf8("ID_A"), example.utf8("ID_B"));
    let client = Sm2KeyPair::from_secret_bytes(&example.bytes("d_A")).unwrap();
    let server = Sm2KeyPair::from_secret_bytes(&example.bytes("d_B")).unwrap();
    example.check("P_A", &public_key_to_bytes(client.public_key()));
    example.check("P_B", &public_key_to_bytes(server.public_key()));
    let session = example.text("session");
    assert!(
        session.len() == 32
            && session
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "a session string is 32 lower-case hex characters: {session}"
    );
    example.check("Z_A", &z_value(&id_a, client.public_key()).unwrap());
    example.check("Z_B", &z_value(&id_b, server.public_key()).unwrap());

    // The exchange through both roles' public API.
    let initiator = Initiator::start(&client, &id_a, server.public_key(), &id_b, &example.bytes("r_A")).unwrap();
    example.check("R_A", &public_key_to_bytes(initiator.ephemeral_public()));
    let r_a = public_key_from_bytes::<Sm2>(&example.bytes("R_A")).unwrap();
    let responder =
        Responder::respond(&server, &id_b, client.public_key(), &id_a, &r_a, &example.bytes("r_B")).unwrap();
    example.check("R_B", &public_key_to_bytes(responder.ephemeral_public()));
    example.check("S_B", responder.confirmation().as_bytes());
    let r_b = public_key_from_bytes::<Sm2>(&example.bytes("R_B")).unwrap();
    let s_b = Confirmation::from_bytes(&example.bytes("S_B")).unwrap();
    let (client_keys, s_a) = initiator.finish(&r_b, &s_b).unwrap();
    example.check("S_A", s_a.as_bytes());
    let server_keys = responder.confirm(&s_a).unwrap();
    example.check("K", &client_keys.to_bytes());
    example.check("K", &server_keys.to_bytes());

    // The intermediate values, from the page's formulas.
    let (x1_bar, x2_bar) = (x_bar(&r_a), x_bar(&r_b));
    example.check("x1_bar", &x1_bar);
    example.check("x2_bar", &x2_bar);
    let t_a = scalar(&example.bytes("d_A")) + scalar(&x1_bar) * scalar(&example.bytes("r_A"));
    let t_b = scalar(&example.bytes("d_B")) + scalar(&x2_bar) * scalar(&example.bytes("r_B"));
    example.check("t_A", &t_a.to_repr());
    example.check("t_B", &t_b.to_repr());
    let u = (server.public_key().to_projective() + r_b.to_projective() * scalar(&x2_bar)) * t_a;
    let v = (client.public_key().to_projective() + r_a.to_projective() * scalar(&x1_bar)) * t_b;
    example.check("U", &coordinates(u));
    example.check("U", &coordinates(v));
    let shared = coordinates(u);
    let (x, y) = shared.split_at(32);
    let (z_a, z_b) = (example.bytes("Z_A"), example.bytes("Z_B"));
    let kdf_input = [x, y, &z_a, &z_b].concat();
    example.check("kdf_input", &kdf_input);
    example.check("K", &sm3(&[&kdf_input, &[0, 0, 0, 1]]));
    let (ra_point, rb_point) = (example.bytes("R_A"), example.bytes("R_B"));
    let inner = sm3(&[x, &z_a, &z_b, &ra_point[1..], &rb_point[1..]]);
    example.check("S_inner", &inner);
    example.check("S_B", &sm3(&[&[0x02], y, &inner]));
    example.check("S_A", &sm3(&[&[0x03], y, &inner]));

    // Record 1 each way.
    let seq = u64::from_be_bytes(example.array::<8>("seq"));
    assert_eq!(seq, 1);
    let (client_channel, server_channel) = (ChannelCipher::new(&client_keys), ChannelCipher::new(&server_keys));
    for (direction, prefix, sender, receiver) in [
        (Direction::ClientToServer, "request", &client_channel, &server_channel),
        (Direction::ServerToClient, "response", &server_channel, &client_channel),
    ] {
        let field = |what: &str| format!("{prefix}_{what}");
        example.check(&field("nonce"), &record_nonce(direction, seq));
        example.check(&field("aad"), &record_aad(session, seq));
        let plaintext = example.bytes(&field("plaintext"));
        let record = sender.seal(direction, session, seq, &plaintext).unwrap();
        example.check(&field("record"), &record);
        assert_eq!(*receiver.open(direction, session, seq, &record).unwrap(), plaintext);
    }

    // The plaintexts are the JSON shapes the page describes.
    let request: serde_json::Value = serde_json::from_slice(&example.bytes("request_plaintext")).unwrap();
    assert_eq!(request["method"], "GET");
    assert!(request["path"].as_str().unwrap().starts_with("/v1/wallets/"));
    assert!(request["body"].is_null());
    let response: serde_json::Value = serde_json::from_slice(&example.bytes("response_plaintext")).unwrap();
    assert_eq!(response["status"], 200);
    assert!(response["body"].is_object());

    example.assert_all_read();
}
