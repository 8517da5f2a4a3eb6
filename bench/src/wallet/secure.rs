//! The client's side of the wallet's secure channel (docs/secure-channel.md): register an
//! SM2 key, run the GM/T 0003.3 key exchange as the initiator, then carry each wallet
//! request as an SM4-GCM record and open the record that answers it.
//!
//! The cryptography is shardhub-crypto's (`gm::Initiator`, `gm::ChannelCipher`); this file
//! is the HTTP choreography around it and the record JSON.

use serde::Deserialize;
use serde_json::Value;
use shardhub_crypto::gm::{
    public_key_from_hex, public_key_to_hex, ChannelCipher, Confirmation, Direction, GmError, Initiator, Sm2, Sm2KeyPair,
};

use crate::common::error::BenchError;
use crate::wallet::http::HttpClient;
use crate::wallet::op::WalletRequest;

#[derive(Deserialize)]
struct ServerKey {
    public_key: String,
    id: String,
}

#[derive(Deserialize)]
struct HandshakeAnswer {
    session: String,
    ephemeral_key: String,
    confirm: String,
}

#[derive(Deserialize)]
struct Record {
    seq: u64,
    ct: String,
}

/// The plaintext of an answer record.
#[derive(Deserialize)]
struct InnerAnswer {
    status: u16,
    body: Value,
}

/// A confirmed session on one connection.
pub struct SecureSession {
    http: HttpClient,
    session: String,
    /// `/v1/secure/{session}`, the target of every record.
    record_path: String,
    cipher: ChannelCipher,
    /// The last seq sent; the next record takes seq + 1 (the server wants 1, 2, ...).
    seq: u64,
    plaintext: Vec<u8>,
    record_body: Vec<u8>,
}

impl SecureSession {
    /// Registers a fresh SM2 key as `client_id` (`PUT /v1/admin/secure-clients/{id}`, with
    /// `bearer` if given), then runs the handshake and the confirm step on `http`.
    pub async fn open(
        mut http: HttpClient,
        client_id: &str,
        bearer: Option<&str>,
    ) -> Result<SecureSession, BenchError> {
        let addr = http.addr();
        let channel_error = |message: String| BenchError::SecureChannel { addr, message };
        let client_key = random_key_pair()?;

        let register = format!(r#"{{"public_key":"{}"}}"#, client_key.public_key_hex());
        let target = format!("/v1/admin/secure-clients/{client_id}");
        expect_status(&mut http, "PUT", &target, bearer, Some(register.as_bytes()), 204).await?;

        let body = expect_status(&mut http, "GET", "/v1/secure/server-key", None, None, 200).await?;
        let server: ServerKey = parse_json(&body).map_err(|e| channel_error(format!("server-key answer: {e}")))?;
        let server_public = public_key_from_hex::<Sm2>(&server.public_key)
            .map_err(|e| channel_error(format!("server-key answer: {e}")))?;

        // ID_A, hashed into Z_A, is the client id itself.
        let initiator = loop {
            match Initiator::start(&client_key, client_id, &server_public, &server.id, &os_random::<32>()?) {
                // A draw outside [1, n-1] (probability below 2^-32): draw again.
                Err(GmError::SecretScalar) => continue,
                other => break other.map_err(|e| channel_error(format!("key exchange: {e}")))?,
            }
        };
        let handshake = format!(
            r#"{{"client_id":"{client_id}","id":"{client_id}","ephemeral_key":"{}"}}"#,
            public_key_to_hex(initiator.ephemeral_public())
        );
        let body = expect_status(
            &mut http,
            "POST",
            "/v1/secure/handshake",
            None,
            Some(handshake.as_bytes()),
            200,
        )
        .await?;
        let answer: HandshakeAnswer = parse_json(&body).map_err(|e| channel_error(format!("handshake answer: {e}")))?;
        let server_ephemeral = public_key_from_hex::<Sm2>(&answer.ephemeral_key)
            .map_err(|e| channel_error(format!("handshake answer: {e}")))?;
        let s_b =
            Confirmation::from_hex(&answer.confirm).map_err(|e| channel_error(format!("handshake answer: {e}")))?;
        let (keys, s_a) = initiator.finish(&server_ephemeral, &s_b).map_err(|e| {
            channel_error(format!(
                "the server's S_B does not match ({e}): not the server it claims"
            ))
        })?;

        let confirm = format!(r#"{{"confirm":"{}"}}"#, s_a.to_hex());
        let target = format!("/v1/secure/{}/confirm", answer.session);
        expect_status(&mut http, "POST", &target, None, Some(confirm.as_bytes()), 204).await?;

        Ok(SecureSession {
            http,
            record_path: format!("/v1/secure/{}", answer.session),
            session: answer.session,
            cipher: ChannelCipher::new(&keys),
            seq: 0,
            plaintext: Vec::with_capacity(1024),
            record_body: Vec::with_capacity(2048),
        })
    }

    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Sends `request` as the next record and returns the inner answer: its status and body.
    pub async fn call(&mut self, request: &WalletRequest) -> Result<(u16, Value), BenchError> {
        use std::io::Write as _;
        let addr = self.http.addr();
        let channel_error = |message: String| BenchError::SecureChannel { addr, message };
        self.seq += 1;
        let seq = self.seq;
        write_inner_request(&mut self.plaintext, request);
        let sealed = self
            .cipher
            .seal(Direction::ClientToServer, &self.session, seq, &self.plaintext)
            .map_err(|e| channel_error(format!("sealing record {seq}: {e}")))?;
        self.record_body.clear();
        // Writing into a Vec cannot fail.
        let _ = write!(self.record_body, r#"{{"seq":{seq},"ct":"{}"}}"#, hex::encode(sealed));
        let answer = self
            .http
            .call("POST", &self.record_path, None, Some(&self.record_body))
            .await?;
        if answer.status != 200 {
            return Err(BenchError::UnexpectedReply {
                addr,
                reply: format!(
                    "record {seq} on POST {}: {} {}",
                    self.record_path,
                    answer.status,
                    BenchError::reply_text(answer.body)
                ),
            });
        }
        let record: Record =
            parse_json(answer.body).map_err(|e| channel_error(format!("answer to record {seq}: {e}")))?;
        if record.seq != seq {
            return Err(channel_error(format!(
                "answer to record {seq} carries seq {}",
                record.seq
            )));
        }
        let ct =
            hex::decode(&record.ct).map_err(|_| channel_error(format!("answer to record {seq}: ct is not hex")))?;
        let opened = self
            .cipher
            .open(Direction::ServerToClient, &self.session, seq, &ct)
            .map_err(|e| channel_error(format!("answer to record {seq} does not open: {e}")))?;
        let inner: InnerAnswer =
            parse_json(&opened).map_err(|e| channel_error(format!("answer to record {seq} holds: {e}")))?;
        Ok((inner.status, inner.body))
    }
}

/// The record plaintext `{"method", "path", "body"}`; the body is embedded as JSON.
pub fn write_inner_request(out: &mut Vec<u8>, request: &WalletRequest) {
    use std::io::Write as _;
    // The paths are built from hex ids and numbers: nothing in them needs escaping.
    debug_assert!(!request.path.contains(['"', '\\']), "{}", request.path);
    let body = if request.body.is_empty() { "null" } else { &request.body };
    out.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        r#"{{"method":"{}","path":"{}","body":{body}}}"#,
        request.method, request.path
    );
}

/// Sends one request that must answer `status`; returns the answer's body.
async fn expect_status(
    http: &mut HttpClient,
    method: &str,
    target: &str,
    bearer: Option<&str>,
    body: Option<&[u8]>,
    status: u16,
) -> Result<Vec<u8>, BenchError> {
    let addr = http.addr();
    let answer = http.call(method, target, bearer, body).await?;
    if answer.status != status {
        return Err(BenchError::UnexpectedReply {
            addr,
            reply: format!(
                "{method} {target}: {} {} (expected {status})",
                answer.status,
                BenchError::reply_text(answer.body)
            ),
        });
    }
    Ok(answer.body.to_vec())
}

fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("{e} in {}", BenchError::reply_text(bytes)))
}

/// A key pair from the operating system's random source.
fn random_key_pair() -> Result<Sm2KeyPair, BenchError> {
    loop {
        match Sm2KeyPair::from_secret_bytes(&os_random::<32>()?) {
            Ok(pair) => return Ok(pair),
            // 0 or not below n: draw again.
            Err(_) => continue,
        }
    }
}

/// `N` bytes from getrandom(2).
fn os_random<const N: usize>() -> Result<[u8; N], BenchError> {
    let mut bytes = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: the kernel writes at most N - filled bytes into the rest of `bytes`.
        let n = unsafe { libc::getrandom(bytes[filled..].as_mut_ptr().cast(), N - filled, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(BenchError::Usage(format!("getrandom failed: {e}")));
        }
        filled += n as usize;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardhub_crypto::gm::Responder;

    #[test]
    fn inner_requests_embed_the_body_as_json() {
        let mut out = Vec::new();
        let get = WalletRequest {
            method: "GET",
            path: "/v1/wallets/ab/address?coin=btc-segwit&index=3".to_string(),
            body: String::new(),
        };
        write_inner_request(&mut out, &get);
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["method"], "GET");
        assert_eq!(value["path"], get.path);
        assert!(value["body"].is_null());
        let post = WalletRequest {
            method: "POST",
            path: "/v1/wallets/ab/sign/eth".to_string(),
            body: r#"{"index":0}"#.to_string(),
        };
        write_inner_request(&mut out, &post);
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["body"]["index"], 0);
    }

    #[test]
    fn random_keys_agree_with_a_responder() {
        // The client half as open() runs it, against the server's code from shardhub-crypto.
        let client = random_key_pair().unwrap();
        let server = random_key_pair().unwrap();
        let initiator = Initiator::start(
            &client,
            "bench-1-0",
            server.public_key(),
            "shardhub",
            &os_random::<32>().unwrap(),
        )
        .unwrap();
        let responder = Responder::respond(
            &server,
            "shardhub",
            client.public_key(),
            "bench-1-0",
            initiator.ephemeral_public(),
            &os_random::<32>().unwrap(),
        )
        .unwrap();
        let (client_keys, s_a) = initiator
            .finish(responder.ephemeral_public(), responder.confirmation())
            .unwrap();
        let server_keys = responder.confirm(&s_a).unwrap();
        let (c, s) = (ChannelCipher::new(&client_keys), ChannelCipher::new(&server_keys));
        let record = c.seal(Direction::ClientToServer, "sess", 1, b"{}").unwrap();
        assert_eq!(
            &s.open(Direction::ClientToServer, "sess", 1, &record).unwrap()[..],
            b"{}"
        );
    }

    #[test]
    fn os_random_draws_differ() {
        assert_ne!(os_random::<32>().unwrap(), os_random::<32>().unwrap());
    }
}
