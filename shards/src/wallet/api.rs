//! The wallet's HTTP routes: `/v1/wallets` (keys, addresses, signing), `/v1/secure`
//! (the SM2/SM4 channel that carries the same requests encrypted), and
//! `/v1/admin/secure-clients` (the channel's allow-list). Requests are parsed here, on the
//! accepting shard; what needs key material runs on the wallet's owner (`owner.rs`).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use shardhub_crypto::gm::{public_key_from_hex, public_key_to_hex, Confirmation, Direction, GmError, Responder, Sm2};
use shardhub_net::http::{HttpRequest, Status};
use zeroize::Zeroizing;

use super::access::Role;
use super::custody::random_bytes;
use super::error::ApiError;
use super::message::{WalletAnswer, WalletOp, WalletSource};
use super::owner::call;
use super::request;
use super::secure::{session_slot, session_string};
use super::WalletService;
use crate::config::WalletAuth;

/// A response: status and JSON body (empty for 204).
pub struct ApiResponse {
    pub status: Status,
    pub body: String,
    pub header: Option<(&'static str, &'static str)>,
}

impl From<ApiError> for ApiResponse {
    fn from(e: ApiError) -> ApiResponse {
        ApiResponse {
            status: e.status,
            body: e.body(),
            header: e.header,
        }
    }
}

type ApiResult = Result<ApiResponse, ApiError>;

/// Whether `path` is the wallet's; the HTTP driver hands those to [`respond`].
pub fn owns(path: &str) -> bool {
    path == "/v1/wallets"
        || path.starts_with("/v1/wallets/")
        || path.starts_with("/v1/secure/")
        || path == "/v1/admin/secure-clients"
        || path.starts_with("/v1/admin/secure-clients/")
}

/// Serves one wallet request; refusals become `{"error": {"code", "message"}}`.
pub async fn respond(wallet: &Rc<WalletService>, request: &HttpRequest) -> ApiResponse {
    let answer = serve(wallet, request).await;
    let mut metrics = wallet.metrics.borrow_mut();
    metrics.requests += 1;
    match answer {
        Ok(response) => response,
        Err(e) => {
            metrics.refused += 1;
            e.into()
        }
    }
}

async fn serve(wallet: &Rc<WalletService>, request: &HttpRequest) -> ApiResult {
    let head = &request.head;
    if wallet.shared.custody.is_none() {
        return Err(super::disabled());
    }
    let path = head.path.as_str();
    if let Some(rest) = path.strip_prefix("/v1/secure/") {
        return secure(wallet, &head.method, rest, &request.body).await;
    }
    let role = authorize(wallet, head.authorization.as_deref())?;
    if let Some(rest) = path.strip_prefix("/v1/admin/secure-clients") {
        if role != Role::Admin {
            return Err(ApiError::new(
                Status::Forbidden,
                "forbidden",
                "admin endpoints need an admin key",
            ));
        }
        return admin_clients(wallet, &head.method, rest, &request.body);
    }
    if wallet.ctx().config().wallet.require_secure_channel {
        return Err(ApiError::new(
            Status::Forbidden,
            "secure_channel_required",
            "this server takes wallet requests only through /v1/secure",
        ));
    }
    wallet_route(wallet, &head.method, path, head.query.as_deref(), &request.body).await
}

/// The caller's role: everyone is admin under `auth = "none"` (loopback only).
fn authorize(wallet: &Rc<WalletService>, authorization: Option<&str>) -> Result<Role, ApiError> {
    match wallet.ctx().config().wallet.auth {
        WalletAuth::None => Ok(Role::Admin),
        WalletAuth::ApiKey => wallet.shared.api_keys.load().check(authorization).map(|(role, _)| role),
    }
}

/// The wallet endpoints proper, reached over plain HTTP or inside a secure session.
async fn wallet_route(
    wallet: &Rc<WalletService>,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> ApiResult {
    if path == "/v1/wallets" {
        expect_method(method, "POST")?;
        return create(wallet, body).await;
    }
    let Some(rest) = path.strip_prefix("/v1/wallets/") else {
        return Err(not_found(path));
    };
    let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
    let expected = match action {
        "address" => "GET",
        "sign/eth" | "sign/btc" | "sign/message" => "POST",
        _ => return Err(not_found(path)),
    };
    expect_method(method, expected)?;
    if !is_wallet_id(id) {
        return Err(ApiError::unknown_wallet());
    }
    let owner = owner_of(wallet, id);
    let id = id.to_string();
    let op = match action {
        "address" => WalletOp::Address {
            id,
            path: request::address_query(query)?,
        },
        "sign/eth" => WalletOp::SignEth {
            id,
            sign: Box::new(request::sign_eth(body)?),
        },
        "sign/btc" => WalletOp::SignBtc {
            id,
            spend: Box::new(request::sign_btc(body)?),
        },
        _ => WalletOp::SignMessage {
            id,
            sign: request::sign_message(body)?,
        },
    };
    answer(call(wallet, owner, op).await?)
}

async fn create(wallet: &Rc<WalletService>, body: &[u8]) -> ApiResult {
    let body = request::create_wallet(body)?;
    let source = match body.mnemonic {
        Some(words) => WalletSource::Mnemonic(Zeroizing::new(words)),
        None => {
            let mut entropy = Zeroizing::new([0u8; 32]);
            random_bytes(&mut *entropy).map_err(|e| ApiError::unavailable(e.to_string()))?;
            WalletSource::Entropy(entropy)
        }
    };
    let mut raw = [0u8; 16];
    random_bytes(&mut raw).map_err(|e| ApiError::unavailable(e.to_string()))?;
    let id = hex::encode(raw);
    let owner = owner_of(wallet, &id);
    let op = WalletOp::Create {
        id,
        source,
        passphrase: Zeroizing::new(body.passphrase),
    };
    let reply = call(wallet, owner, op).await?;
    wallet.metrics.borrow_mut().wallets_created += 1;
    answer(reply)
}

fn answer(answer: WalletAnswer) -> ApiResult {
    match answer {
        WalletAnswer::Json(status, body) => Ok(ApiResponse {
            status,
            body,
            header: None,
        }),
        WalletAnswer::Opened(_) => Err(ApiError::unavailable("unexpected answer from the owner shard")),
    }
}

/// A wallet id: 32 lower-case hex digits.
fn is_wallet_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn owner_of(wallet: &WalletService, key: &str) -> u16 {
    wallet.ctx().owner_of_key(key.as_bytes())
}

fn expect_method(method: &str, expected: &'static str) -> Result<(), ApiError> {
    if method == expected {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(expected))
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(Status::NotFound, "not_found", format!("no route for {path}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HandshakeBody {
    client_id: String,
    id: String,
    ephemeral_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    confirm: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordBody<'a> {
    seq: u64,
    #[serde(borrow)]
    ct: Cow<'a, str>,
}

/// The encrypted request inside a record.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InnerRequest<'a> {
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    path: Cow<'a, str>,
    /// Kept as the client's bytes: the wallet route parses it again into its own type.
    #[serde(borrow, default)]
    body: Option<&'a RawValue>,
}

/// `/v1/secure/...`: the key exchange and the records. See docs/secure-channel.md.
async fn secure(wallet: &Rc<WalletService>, method: &str, rest: &str, body: &[u8]) -> ApiResult {
    let custody = wallet.shared.custody.as_ref().expect("checked by serve");
    match rest {
        "server-key" => {
            expect_method(method, "GET")?;
            return ok_json(json!({"public_key": custody.server_public_hex, "id": custody.server_id}));
        }
        "handshake" => {
            expect_method(method, "POST")?;
            return handshake(wallet, request::json(body)?).await;
        }
        _ => {}
    }
    expect_method(method, "POST")?;
    let (session, confirm) = match rest.strip_suffix("/confirm") {
        Some(session) => (session, true),
        None => (rest, false),
    };
    let slot = session_slot(session).ok_or_else(ApiError::unknown_session)?;
    let owner = wallet.ctx().slots().owner(slot);
    if confirm {
        let b: ConfirmBody = request::json(body)?;
        let confirmation = Confirmation::from_hex(&b.confirm)?;
        let session = session.to_string();
        return answer(call(wallet, owner, WalletOp::Confirm { session, confirmation }).await?);
    }
    let b: RecordBody = request::json(body)?;
    let ct = decode_hex(&b.ct).ok_or(GmError::Hex { field: "ct" })?;
    let seq = b.seq;
    let reply = call(
        wallet,
        owner,
        WalletOp::Record {
            session: session.to_string(),
            seq,
            ct,
        },
    )
    .await;
    let opened = match reply {
        Ok(WalletAnswer::Opened(opened)) => opened,
        Ok(_) => return Err(ApiError::unavailable("unexpected answer from the owner shard")),
        Err(e) => {
            wallet.metrics.borrow_mut().records_refused += 1;
            return Err(e);
        }
    };
    // From here on every outcome, refusals included, travels encrypted.
    let (status, inner_body) = match inner(wallet, &opened.plaintext).await {
        Ok(response) => (response.status, response.body),
        Err(e) => (e.status, e.body()),
    };
    // Every body the routes write is JSON (or empty, for 204), so it is spliced in as it is.
    let body = if inner_body.is_empty() { "null" } else { &inner_body };
    let plaintext = Zeroizing::new(format!("{{\"status\":{},\"body\":{body}}}", status.code()));
    let sealed = opened
        .cipher
        .seal(Direction::ServerToClient, session, seq, plaintext.as_bytes())?;
    wallet.metrics.borrow_mut().records_accepted += 1;
    let mut body = String::with_capacity(sealed.len() * 2 + 48);
    let _ = write!(body, "{{\"seq\":{seq},\"ct\":\"");
    body.push_str(&faster_hex::hex_string(&sealed));
    body.push_str("\"}");
    Ok(ApiResponse {
        status: Status::Ok,
        body,
        header: None,
    })
}

/// The bytes of an even-length hex string, either case; `None` for anything else.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let mut bytes = vec![0; text.len() / 2];
    faster_hex::hex_decode(text.as_bytes(), &mut bytes).ok()?;
    Some(bytes)
}

/// Runs the request a record carries, with the `app` role.
async fn inner(wallet: &Rc<WalletService>, plaintext: &[u8]) -> ApiResult {
    let request: InnerRequest = request::json(plaintext)?;
    let (path, query) = match request.path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (request.path.as_ref(), None),
    };
    if !(path == "/v1/wallets" || path.starts_with("/v1/wallets/")) {
        return Err(ApiError::new(
            Status::NotFound,
            "not_found",
            "only /v1/wallets endpoints are reachable through the channel",
        ));
    }
    let body = match request.body {
        Some(raw) if raw.get() != "null" => raw.get().as_bytes(),
        _ => &[],
    };
    wallet_route(wallet, &request.method, path, query, body).await
}

async fn handshake(wallet: &Rc<WalletService>, b: HandshakeBody) -> ApiResult {
    let custody = wallet.shared.custody.as_ref().expect("checked by serve");
    let client = wallet
        .shared
        .clients
        .get(&b.client_id)
        .ok_or_else(|| ApiError::new(Status::Forbidden, "unknown_client", "no registered client with that id"))?;
    let client_key = public_key_from_hex::<Sm2>(&client.public_key)?;
    let ephemeral = public_key_from_hex::<Sm2>(&b.ephemeral_key)?;
    let responder = loop {
        let mut random = Zeroizing::new([0u8; 32]);
        random_bytes(&mut *random).map_err(|e| ApiError::unavailable(e.to_string()))?;
        match Responder::respond(
            &custody.server,
            &custody.server_id,
            &client_key,
            &b.id,
            &ephemeral,
            &*random,
        ) {
            // A draw outside [1, n-1] (probability below 2^-32): draw again.
            Err(GmError::SecretScalar) => continue,
            other => break other?,
        }
    };
    let mut random = [0u8; 14];
    random_bytes(&mut random).map_err(|e| ApiError::unavailable(e.to_string()))?;
    let session = session_string(&b.client_id, &random);
    let response = json!({
        "session": session,
        "ephemeral_key": public_key_to_hex(responder.ephemeral_public()),
        "confirm": responder.confirmation().to_hex(),
    });
    let owner = owner_of(wallet, &b.client_id);
    let op = WalletOp::OpenSession {
        session,
        client_id: b.client_id,
        public_key: client.public_key,
        responder: Box::new(responder),
    };
    call(wallet, owner, op).await?;
    wallet.metrics.borrow_mut().sessions_opened += 1;
    ok_json(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutClientBody {
    public_key: String,
}

/// `/v1/admin/secure-clients[/{id}]`.
fn admin_clients(wallet: &Rc<WalletService>, method: &str, rest: &str, body: &[u8]) -> ApiResult {
    let clients = &wallet.shared.clients;
    if rest.is_empty() {
        expect_method(method, "GET")?;
        let list: Vec<Value> = clients
            .list()
            .into_iter()
            .map(|(id, c)| json!({"client_id": id, "public_key": c.public_key, "source": c.source}))
            .collect();
        return ok_json(json!({ "clients": list }));
    }
    let id = rest.strip_prefix('/').unwrap_or(rest);
    let failed =
        |e: super::clients::ClientListError| ApiError::unavailable(format!("cannot save the client list: {e}"));
    if clients.in_config(id) && matches!(method, "PUT" | "DELETE") {
        // Answering 204 would let an operator believe a compromised key was replaced.
        return Err(ApiError::new(
            Status::Conflict,
            "client_in_config",
            "this client is registered in [[wallet.clients]]; change it there and reload",
        ));
    }
    match method {
        "PUT" => {
            let b: PutClientBody = request::json(body)?;
            super::clients::check_client(id, &b.public_key)
                .map_err(|expected| ApiError::new(Status::BadRequest, "bad_client", format!("expected {expected}")))?;
            clients.put(id, &b.public_key).map_err(failed)?;
            no_content()
        }
        "DELETE" => {
            if clients.remove(id).map_err(failed)? {
                no_content()
            } else {
                Err(ApiError::new(
                    Status::NotFound,
                    "unknown_client",
                    "no client registered through the admin endpoint with that id",
                ))
            }
        }
        _ => Err(ApiError::method_not_allowed("PUT, DELETE")),
    }
}

fn ok_json(value: Value) -> ApiResult {
    Ok(ApiResponse {
        status: Status::Ok,
        body: value.to_string(),
        header: None,
    })
}

fn no_content() -> ApiResult {
    Ok(ApiResponse {
        status: Status::NoContent,
        body: String::new(),
        header: None,
    })
}

#[cfg(test)]
mod tests {
    use super::decode_hex;

    #[test]
    fn record_hex_is_even_length_hex_of_either_case() {
        assert_eq!(decode_hex("00ff7A"), Some(vec![0x00, 0xff, 0x7a]));
        assert_eq!(decode_hex(""), Some(vec![]));
        for bad in ["0", "abc", "0x00", "zz", "00 1", "é0"] {
            assert_eq!(decode_hex(bad), None, "{bad:?}");
        }
    }
}
