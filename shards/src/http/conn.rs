//! The HTTP connection driver: reads requests, routes each by its path — admin endpoints
//! `/metrics`, `/healthz`, `/readyz`, the device shadows (`/v1/shadows`), the light wallet
//! (`/v1/wallets`, `/v1/secure`, `/v1/admin`) — and writes the answers.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use rustls::ServerConfig;
use shardhub_net::http::{self, HttpLimits, HttpRequest, Progress, Status};

use super::HttpFront;
use crate::mqtt::message::{MqttOp, MqttReply, ShadowAction};
use crate::runtime::context::{Admission, Listener};
use crate::runtime::Service;
use crate::tls::{TlsStream, Transport, HANDSHAKE_TIMEOUT};

const READ_BUFFER_BYTES: usize = 4 * 1024;
/// A read buffer grown past this (a large body) is dropped once empty, so a kept-alive
/// connection does not hold it while idle.
const BUFFER_KEEP_BYTES_MAX: usize = 256 * 1024;
/// Response bytes, and requests, one batch of pipelined requests gathers before they are
/// written: the rest wait in the read buffer, so a client that pipelines many requests and
/// reads slowly holds about one batch here.
const REPLY_BATCH_BYTES_MAX: usize = 1024 * 1024;
const REQUESTS_PER_BATCH_MAX: usize = 64;
/// How long a connection in the room kept for health checks may take to send its request: a
/// load balancer sends it at once, and a slow client must not hold the room.
const HEALTH_REQUEST_MS_MAX: u64 = 1000;

/// Serves one HTTP connection; HTTPS (the `https` listener) when `tls` is given.
pub async fn serve(front: Rc<HttpFront>, mut stream: TcpStream, tls: Option<Arc<ServerConfig>>) {
    let ctx = front.ctx.clone();
    let admission = ctx.admit(Listener::Http);
    if admission == Admission::Refuse {
        // A TLS client cannot read a plain 503: it just sees the close.
        if tls.is_none() {
            let mut out = BytesMut::new();
            http::write_json_error(&mut out, Status::ServiceUnavailable, "too many connections", false);
            let _ = stream.write_all(out).await;
        }
        return;
    }
    let stream = match tls {
        None => Some(Transport::Plain(stream)),
        Some(config) => match monoio::time::timeout(HANDSHAKE_TIMEOUT, TlsStream::accept(stream, config)).await {
            Ok(Ok(tls)) => Some(Transport::Tls(Box::new(tls))),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "https handshake failed");
                None
            }
            Err(_) => None,
        },
    };
    if let Some(mut stream) = stream {
        match admission {
            Admission::Limited => health_only(&front, &mut stream).await,
            _ => run(&front, &mut stream).await,
        }
    }
    ctx.connection_closed(Listener::Http, admission);
}

/// Why a connection stopped reading.
enum Stop {
    /// The peer closed it, or it broke.
    Closed,
    /// Nothing came for `http.idle_timeout_ms` between requests: closed without a word.
    Idle,
    /// A request's head or body did not arrive in time: answered 408.
    TooSlow,
}

/// Reads more of the request at the front of `rbuf`, within the time its stage has left:
/// an idle connection its idle timeout, a head from its first byte, a body from its head.
async fn read_more(
    front: &HttpFront,
    stream: &mut Transport,
    rbuf: BytesMut,
    limits: &HttpLimits,
    started: &mut Option<(Progress, Instant)>,
    stage_ms_max: u64,
) -> (Result<(), Stop>, BytesMut) {
    let c = front.ctx.config();
    let now = Instant::now();
    let progress = http::progress(&rbuf, limits);
    if started.is_none_or(|(stage, _)| stage != progress) {
        *started = Some((progress, now));
    }
    let since = started.map_or(now, |(_, at)| at);
    let allowed_ms = match progress {
        Progress::Idle => c.http.idle_timeout_ms,
        Progress::Head => c.http.header_timeout_ms,
        Progress::Body => c.http.body_timeout_ms,
    };
    let left = Duration::from_millis(allowed_ms.min(stage_ms_max)).saturating_sub(now - since);
    let mut rbuf = rbuf;
    rbuf.reserve(READ_BUFFER_BYTES);
    match monoio::time::timeout(left, stream.read_append(rbuf)).await {
        Ok((Ok(n), buf)) if n > 0 => (Ok(()), buf),
        Ok((_, buf)) => (Err(Stop::Closed), buf),
        // The buffer went with the cancelled read; the connection closes anyway.
        Err(_) if progress == Progress::Idle => (Err(Stop::Idle), BytesMut::new()),
        Err(_) => (Err(Stop::TooSlow), BytesMut::new()),
    }
}

async fn run(front: &Rc<HttpFront>, stream: &mut Transport) {
    let limits = HttpLimits::default();
    let mut rbuf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let mut wbuf = BytesMut::new();
    let mut started = None;
    // Whether the last batch stopped at a bound with requests still buffered: they are served
    // before anything more is read.
    let mut batch_cut = false;
    loop {
        if !std::mem::take(&mut batch_cut) {
            if rbuf.is_empty() && rbuf.capacity() > BUFFER_KEEP_BYTES_MAX {
                rbuf = BytesMut::with_capacity(READ_BUFFER_BYTES);
            }
            let (read, buf) = read_more(front, stream, rbuf, &limits, &mut started, u64::MAX).await;
            rbuf = buf;
            match read {
                Ok(()) => {}
                Err(Stop::TooSlow) => return too_slow(stream).await,
                Err(Stop::Closed | Stop::Idle) => return,
            }
        }
        let mut keep_alive = true;
        let mut requests = 0;
        loop {
            match http::request::parse(&mut rbuf, &limits) {
                Ok(Some(request)) => {
                    started = None;
                    front.requests.set(front.requests.get() + 1);
                    keep_alive = request.head.keep_alive && !front.ctx.shared.lifecycle.is_draining();
                    respond(front, &request, keep_alive, &mut wbuf).await;
                    requests += 1;
                    if !keep_alive {
                        break;
                    }
                    if wbuf.len() >= REPLY_BATCH_BYTES_MAX || requests >= REQUESTS_PER_BATCH_MAX {
                        batch_cut = !rbuf.is_empty();
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    http::write_json_error(&mut wbuf, e.status(), &e.to_string(), false);
                    keep_alive = false;
                    break;
                }
            }
        }
        wbuf = match write_responses(front, stream, wbuf).await {
            Some(buf) => buf,
            None => return,
        };
        if !keep_alive {
            return;
        }
    }
}

/// Writes out the responses in `wbuf`, if any, and hands the buffer back empty. A client that
/// reads none of it for `http.idle_timeout_ms` is closed (`None`), as is a broken one.
async fn write_responses(front: &HttpFront, stream: &mut Transport, wbuf: BytesMut) -> Option<BytesMut> {
    if wbuf.is_empty() {
        return Some(wbuf);
    }
    let wait = Duration::from_millis(front.ctx.config().http.idle_timeout_ms);
    let (result, mut wbuf) = monoio::time::timeout(wait, stream.write_all(wbuf)).await.ok()?;
    result.ok()?;
    wbuf.clear();
    if wbuf.capacity() > BUFFER_KEEP_BYTES_MAX {
        wbuf = BytesMut::new();
    }
    Some(wbuf)
}

/// 408 for a request that did not arrive in time, then close.
async fn too_slow(stream: &mut Transport) {
    let mut out = BytesMut::new();
    http::write_json_error(
        &mut out,
        Status::RequestTimeout,
        "the request did not arrive in time",
        false,
    );
    let _ = stream.write_all(out).await;
}

/// A connection over the HTTP cap, in the room kept for load balancers: one request, served
/// only if it is a health check.
async fn health_only(front: &Rc<HttpFront>, stream: &mut Transport) {
    let limits = HttpLimits::default();
    let mut rbuf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let mut started = None;
    let request = loop {
        let (read, buf) = read_more(front, stream, rbuf, &limits, &mut started, HEALTH_REQUEST_MS_MAX).await;
        rbuf = buf;
        match read {
            Ok(()) => {}
            Err(Stop::TooSlow) => return too_slow(stream).await,
            Err(Stop::Closed | Stop::Idle) => return,
        }
        match http::request::parse(&mut rbuf, &limits) {
            Ok(Some(request)) => break request,
            Ok(None) => continue,
            Err(_) => return,
        }
    };
    let mut out = BytesMut::new();
    if matches!(request.head.path.as_str(), "/healthz" | "/readyz") {
        front.requests.set(front.requests.get() + 1);
        respond(front, &request, false, &mut out).await;
    } else {
        http::write_json_error(&mut out, Status::ServiceUnavailable, "too many connections", false);
    }
    let _ = stream.write_all(out).await;
}

async fn respond(front: &Rc<HttpFront>, request: &HttpRequest, keep_alive: bool, out: &mut BytesMut) {
    let head = &request.head;
    let known = matches!(head.path.as_str(), "/metrics" | "/healthz" | "/readyz");
    if known && head.method != "GET" && head.method != "HEAD" {
        http::write_json_error(out, Status::MethodNotAllowed, "use GET", keep_alive);
        return;
    }
    if crate::wallet::api::owns(&head.path) {
        let response = crate::wallet::api::respond(&front.wallet, request).await;
        let body = response.body.as_bytes();
        http::write_response_with(
            out,
            response.status,
            "application/json",
            response.header,
            body,
            keep_alive,
        );
        return;
    }
    if let Some(device) = head.path.strip_prefix("/v1/shadows/") {
        shadow(front, request, device, keep_alive, out).await;
        return;
    }
    match head.path.as_str() {
        "/healthz" => http::write_response(
            out,
            Status::Ok,
            "application/json",
            b"{\"status\":\"alive\"}",
            keep_alive,
        ),
        "/readyz" => match front.admin.readiness() {
            Ok(()) => http::write_response(
                out,
                Status::Ok,
                "application/json",
                b"{\"status\":\"ready\"}",
                keep_alive,
            ),
            Err(phase) => http::write_json_error(out, Status::ServiceUnavailable, phase, keep_alive),
        },
        "/metrics" => {
            let body = front.admin.scrape().await;
            http::write_response(
                out,
                Status::Ok,
                "text/plain; version=0.0.4",
                body.as_bytes(),
                keep_alive,
            );
        }
        _ => http::write_json_error(
            out,
            Status::NotFound,
            &format!("no route for {}", head.path),
            keep_alive,
        ),
    }
}

/// `GET`, `PATCH` and `DELETE /v1/shadows/{device}`: the MQTT shadow semantics over HTTP, run
/// on the device's owner shard; the body is the same document the MQTT reply topics carry.
async fn shadow(front: &Rc<HttpFront>, request: &HttpRequest, device: &str, keep_alive: bool, out: &mut BytesMut) {
    let action = match request.head.method.as_str() {
        "GET" => ShadowAction::Get,
        "PATCH" => ShadowAction::Update,
        "DELETE" => ShadowAction::Delete,
        _ => {
            http::write_json_error(out, Status::MethodNotAllowed, "use GET, PATCH or DELETE", keep_alive);
            return;
        }
    };
    if device.is_empty() || device.contains(['/', '+', '#']) {
        http::write_json_error(out, Status::NotFound, "no such device name", keep_alive);
        return;
    }
    let owner = front.ctx.owner_of_key(device.as_bytes());
    let op = MqttOp::Shadow {
        action,
        device: device.to_string(),
        request: request.body.clone(),
    };
    let reply = match front.broker.on_owner(owner, op) {
        Ok(answer) => answer.get().await,
        Err(_) => MqttReply::Unavailable,
    };
    match reply {
        MqttReply::Shadow { status, body } => {
            let status = match status {
                200 => Status::Ok,
                400 => Status::BadRequest,
                404 => Status::NotFound,
                409 => Status::Conflict,
                413 => Status::PayloadTooLarge,
                429 => Status::TooManyRequests,
                503 => Status::ServiceUnavailable,
                _ => Status::InternalError,
            };
            http::write_response(out, status, "application/json", body.to_string().as_bytes(), keep_alive);
        }
        MqttReply::Failed => http::write_json_error(
            out,
            Status::ServiceUnavailable,
            "shadow log failed; the change was not made",
            keep_alive,
        ),
        _ => http::write_json_error(out, Status::ServiceUnavailable, "shadow owner unavailable", keep_alive),
    }
}
