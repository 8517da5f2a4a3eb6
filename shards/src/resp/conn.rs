//! The RESP connection driver: reads bytes, frames requests with `net::resp`, runs them
//! through `dispatch`, and writes every reply of a read batch in one write.
//!
//! Pipelined commands that wait on other shards do not hold up the sending of later
//! commands: all of a batch is dispatched first (remote ones travel the mesh in parallel),
//! then the replies are written in request order.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use rustls::ServerConfig;
use shardhub_net::resp::{Protocol, Reply, RequestLimits, RequestParser};

use crate::config::LimitsConfig;

use super::clients::{ClientInfo, ClientState};
use super::dispatch::dispatch;
use super::front::RespFront;
use super::session::Session;
use crate::runtime::context::{Admission, Listener};
use crate::runtime::{Answer, Later};
use crate::tls::{TlsStream, Transport, HANDSHAKE_TIMEOUT};

/// First read buffer; it grows for large requests and shrinks back when idle.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Room always offered to a read, so small reads do not reallocate.
const READ_ROOM_BYTES_MIN: usize = 4 * 1024;
/// A buffer grown past this is dropped when the connection goes idle, so one big request
/// does not pin megabytes for the connection's lifetime.
const BUFFER_KEEP_BYTES_MAX: usize = 256 * 1024;
/// Reply bytes one batch gathers before they are written: past it, the requests still in the
/// read buffer wait for the next turn. A pipeline of reads of a large value, sent by a client
/// that reads slowly, so holds about this much here rather than every reply at once (Redis's
/// client-output-buffer-limit, kept by back-pressure instead of by closing the connection).
const REPLY_BATCH_BYTES_MAX: usize = 1024 * 1024;
/// Requests one batch takes on before its replies are written, for the same reason: replies
/// queued behind one that waits on another shard are held whole until then.
const REQUESTS_PER_BATCH_MAX: usize = 1024;

/// One reply slot in request order.
enum Slot {
    Ready(Reply, Protocol),
    Waiting {
        later: Later<Reply>,
        protocol: Protocol,
        command: Option<usize>,
        started: Instant,
    },
}

/// Serves one RESP connection; over TLS (the `resps` listener) when `tls` is given.
pub async fn serve(front: Rc<RespFront>, mut stream: TcpStream, peer: SocketAddr, tls: Option<Arc<ServerConfig>>) {
    let ctx = front.ctx().clone();
    // RESP keeps no room beyond its cap: a connection is served or refused.
    if ctx.admit(Listener::Resp) != Admission::Serve {
        // A TLS client cannot read a plain refusal: it just sees the close.
        if tls.is_none() {
            let _ = stream
                .write_all(b"-ERR max number of clients reached\r\n".to_vec())
                .await;
        }
        return;
    }
    let mut stream = match tls {
        None => Transport::Plain(stream),
        Some(config) => match monoio::time::timeout(HANDSHAKE_TIMEOUT, TlsStream::accept(stream, config)).await {
            Ok(Ok(tls)) => Transport::Tls(Box::new(tls)),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "resp tls handshake failed");
                ctx.connection_closed(Listener::Resp, Admission::Serve);
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "resp tls handshake timed out");
                ctx.connection_closed(Listener::Resp, Admission::Serve);
                return;
            }
        },
    };
    let id = ctx.shared.next_client_id.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    let client = Rc::new(ClientInfo {
        id,
        addr: peer,
        laddr: stream.tcp().local_addr().unwrap_or(peer),
        fd: stream.tcp().as_raw_fd(),
        created: now,
        state: std::cell::RefCell::new(ClientState {
            name: None,
            last_command: "NULL",
            last_active: now,
            protocol: 2,
        }),
    });
    front.clients.borrow_mut().insert(client.clone());
    let mut session = Session {
        client,
        protocol: Protocol::Resp2,
        closing: false,
    };
    run(&front, &mut stream, &mut session).await;
    front.clients.borrow_mut().remove(id);
    ctx.connection_closed(Listener::Resp, Admission::Serve);
}

async fn run(front: &Rc<RespFront>, stream: &mut Transport, session: &mut Session) {
    let ctx = front.ctx();
    let mut rbuf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    // Allocated by the first reply: a connection that never gets one costs nothing here.
    let mut wbuf = BytesMut::new();
    let mut slots: VecDeque<Slot> = VecDeque::new();
    // Whether the last batch stopped at a bound with whole requests still buffered: then
    // they are served before anything more is read.
    let mut batch_cut = false;
    loop {
        let config = ctx.config();
        if !std::mem::take(&mut batch_cut) {
            rbuf = match read_request_bytes(front, stream, rbuf, config.resp.idle_timeout_secs).await {
                Some(buf) => buf,
                None => return,
            };
        }
        ctx.note_drain_activity();
        let parser = RequestParser::new(request_limits(&config.limits));
        let mut broken = false;
        let mut requests = 0;
        // One clock read per request: a command's latency runs from the end of the one
        // before it in this batch (its framing included) to the end of its own dispatch.
        let mut now = Instant::now();
        loop {
            match parser.next(&mut rbuf) {
                Ok(Some(request)) => {
                    let started = now;
                    let (command, answer) = dispatch(front, session, request, started);
                    now = Instant::now();
                    // After dispatch: HELLO's own reply already speaks the new protocol.
                    let protocol = session.protocol;
                    match answer {
                        Answer::Now(reply) => {
                            record(front, command, now - started, reply.is_error());
                            if slots.is_empty() {
                                reply.encode(protocol, &mut wbuf);
                            } else {
                                slots.push_back(Slot::Ready(reply, protocol));
                            }
                        }
                        Answer::Later(later) => slots.push_back(Slot::Waiting {
                            later,
                            protocol,
                            command,
                            started,
                        }),
                    }
                    if session.closing {
                        break;
                    }
                    requests += 1;
                    if wbuf.len() >= REPLY_BATCH_BYTES_MAX || requests >= REQUESTS_PER_BATCH_MAX {
                        batch_cut = !rbuf.is_empty();
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // As Redis: answer the protocol error, then close; the stream cannot be
                    // re-synchronised.
                    front.metrics.borrow_mut().protocol_errors += 1;
                    slots.push_back(Slot::Ready(Reply::error(e.to_string()), session.protocol));
                    broken = true;
                    break;
                }
            }
        }
        while let Some(slot) = slots.pop_front() {
            match slot {
                Slot::Ready(reply, protocol) => reply.encode(protocol, &mut wbuf),
                Slot::Waiting {
                    later,
                    protocol,
                    command,
                    started,
                } => {
                    let reply = later.await;
                    record(front, command, started.elapsed(), reply.is_error());
                    reply.encode(protocol, &mut wbuf);
                }
            }
            // Replies that waited on other shards are held as values, not bytes: written
            // out as they pass the bound, they never gather more than it here.
            if wbuf.len() >= REPLY_BATCH_BYTES_MAX {
                wbuf = match write_replies(front, stream, wbuf).await {
                    Some(buf) => buf,
                    None => return,
                };
            }
        }
        wbuf = match write_replies(front, stream, wbuf).await {
            Some(buf) => buf,
            None => return,
        };
        if broken || session.closing {
            return;
        }
    }
}

/// Writes out the replies in `wbuf`, if any, and hands the buffer back empty (a fresh one if
/// it had grown past `BUFFER_KEEP_BYTES_MAX`); `None` when the connection broke.
async fn write_replies(front: &RespFront, stream: &mut Transport, wbuf: BytesMut) -> Option<BytesMut> {
    if wbuf.is_empty() {
        return Some(wbuf);
    }
    let written = wbuf.len() as u64;
    let (result, mut wbuf) = stream.write_all(wbuf).await;
    result.ok()?;
    front.metrics.borrow_mut().bytes_out += written;
    wbuf.clear();
    if wbuf.capacity() > BUFFER_KEEP_BYTES_MAX {
        wbuf = BytesMut::new();
    }
    Some(wbuf)
}

/// Reads more request bytes onto `rbuf`, within `resp.idle_timeout_secs` when one is set.
/// `None` when the connection is done: closed, failed, or idle past the timeout.
async fn read_request_bytes(
    front: &RespFront,
    stream: &mut Transport,
    mut rbuf: BytesMut,
    idle_timeout_secs: u64,
) -> Option<BytesMut> {
    if rbuf.is_empty() && rbuf.capacity() > BUFFER_KEEP_BYTES_MAX {
        rbuf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    }
    rbuf.reserve(READ_ROOM_BYTES_MIN);
    let (result, rbuf) = if idle_timeout_secs == 0 {
        stream.read_append(rbuf).await
    } else {
        // Only with a timeout configured: a timer per read costs the hot path.
        let read = stream.read_append(rbuf);
        match monoio::time::timeout(Duration::from_secs(idle_timeout_secs), read).await {
            Ok(read) => read,
            // Idle past `resp.idle_timeout_secs`: closed, as Redis does, without a word.
            Err(_) => return None,
        }
    };
    match result {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            front.metrics.borrow_mut().bytes_in += n as u64;
            Some(rbuf)
        }
    }
}

fn record(front: &RespFront, command: Option<usize>, elapsed: Duration, error: bool) {
    let mut metrics = front.metrics.borrow_mut();
    match command {
        Some(index) => metrics.record_command(index, elapsed, error),
        None => metrics.unknown_commands += 1,
    }
}

/// The request bounds of `[limits]`.
fn request_limits(l: &LimitsConfig) -> RequestLimits {
    RequestLimits {
        args_max: l.args_max,
        bulk_bytes_max: l.bulk_bytes_max,
        inline_bytes_max: l.inline_bytes_max,
        request_bytes_max: l.request_bytes_max,
    }
}
