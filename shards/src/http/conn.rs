//! The HTTP connection driver: reads requests, routes each by its path — admin endpoints
//! `/metrics`, `/healthz`, `/readyz`, the device shadows (`/v1/shadows`), the light wallet
//! (`/v1/wallets`, `/v1/secure`, `/v1/admin`) — and writes the answers.

use std::rc::Rc;

use bytes::BytesMut;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use shardhub_net::http::{self, HttpLimits, HttpRequest, Status};

use super::HttpFront;
use crate::mqtt::message::{MqttOp, MqttReply, ShadowAction};
use crate::runtime::read_buf::read_append;
use crate::runtime::Service;

const READ_BUFFER_BYTES: usize = 4 * 1024;

pub async fn serve(front: Rc<HttpFront>, mut stream: TcpStream) {
    let ctx = front.ctx.clone();
    if !ctx.admits_connection() {
        let mut out = BytesMut::new();
        http::write_json_error(&mut out, Status::ServiceUnavailable, "too many connections", false);
        let _ = stream.write_all(out).await;
        return;
    }
    ctx.connection_opened();
    run(&front, &mut stream).await;
    ctx.connection_closed();
}

async fn run(front: &Rc<HttpFront>, stream: &mut TcpStream) {
    let limits = HttpLimits::default();
    let mut rbuf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let mut wbuf = BytesMut::new();
    loop {
        rbuf.reserve(READ_BUFFER_BYTES);
        let (result, buf) = read_append(stream, rbuf).await;
        rbuf = buf;
        match result {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut keep_alive = true;
        loop {
            match http::request::parse(&mut rbuf, &limits) {
                Ok(Some(request)) => {
                    front.requests.set(front.requests.get() + 1);
                    keep_alive = request.head.keep_alive && !front.ctx.shared.lifecycle.is_draining();
                    respond(front, &request, keep_alive, &mut wbuf).await;
                    if !keep_alive {
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
        if !wbuf.is_empty() {
            let (result, buf) = stream.write_all(wbuf).await;
            wbuf = buf;
            wbuf.clear();
            if result.is_err() {
                return;
            }
        }
        if !keep_alive {
            return;
        }
    }
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
        _ => http::write_json_error(out, Status::ServiceUnavailable, "shadow owner unavailable", keep_alive),
    }
}
