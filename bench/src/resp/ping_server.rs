//! `shardhub-bench tokio-ping-server`: the reference "plain tokio, one current-thread runtime
//! per core" RESP ping server that shardhub's runtime is compared against (DESIGN.md: it was
//! the most CPU-efficient ping server measured here, so it is the floor).
//!
//! Per thread: its own `SO_REUSEPORT` listener on the shared address (the kernel spreads
//! connections over them, so no thread hands a socket to another), its own runtime, and a
//! task per connection. Per connection: one reused read buffer, one reused reply buffer,
//! and one write per read carrying every reply that read produced.

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::thread;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::client_connection::ClientConnection;
use crate::common::error::BenchError;
use crate::resp::request_scan::{scan_request, RequestKind, RequestScan};

/// Listen backlog: connection bursts from a benchmark open hundreds at once.
const BACKLOG: i32 = 4096;
/// Bytes a connection's read buffer grows by when it runs low.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Most bytes one unfinished request may buffer before the connection is refused.
const REQUEST_BYTES_MAX: usize = 1024 * 1024;
/// Pause after a failed accept (out of file descriptors, say), so the loop does not spin.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

const PONG: &[u8] = b"+PONG\r\n";
const UNKNOWN_COMMAND: &[u8] = b"-ERR unknown command\r\n";

#[derive(Debug, clap::Args)]
pub struct PingServerArgs {
    /// Address to listen on, HOST:PORT (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:6390")]
    pub addr: String,
    /// Threads, each with its own runtime and listener [default: available parallelism].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Pin thread i to CPU i (mod the CPU count), as shardhub pins its shards.
    #[arg(long)]
    pub pin: bool,
}

pub fn run(args: PingServerArgs) -> Result<(), BenchError> {
    let addr = ClientConnection::resolve(&args.addr)?;
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let threads = args.threads.map_or(cpus, |t| t as usize);

    // Bind every listener before any thread starts: with port 0 the first socket picks the
    // port and the others must join it, and once all are listening the server is ready
    // (connections queue in the backlogs even before the accept loops run).
    let mut listeners = Vec::with_capacity(threads);
    let mut bound = addr;
    for _ in 0..threads {
        let listener = reuseport_listener(bound)?;
        bound = listener
            .local_addr()
            .map_err(|source| BenchError::Listen { addr, source })?;
        listeners.push(listener);
    }
    for (index, listener) in listeners.into_iter().enumerate() {
        let cpu = args.pin.then_some(index % cpus);
        thread::Builder::new()
            .name(format!("ping-shard-{index}"))
            .spawn(move || serve_thread(listener, cpu))
            .map_err(BenchError::Runtime)?;
    }
    eprintln!("listening on {bound} with {threads} threads");
    wait_for_shutdown_signal()?;
    // Returning ends the process, and with it the serving threads: there is no state to save.
    eprintln!("shutting down");
    Ok(())
}

fn reuseport_listener(addr: SocketAddr) -> Result<StdTcpListener, BenchError> {
    let listen_error = |source| BenchError::Listen { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(listen_error)?;
    socket.set_reuse_address(true).map_err(listen_error)?;
    socket.set_reuse_port(true).map_err(listen_error)?;
    socket.set_nonblocking(true).map_err(listen_error)?;
    socket.bind(&addr.into()).map_err(listen_error)?;
    socket.listen(BACKLOG).map_err(listen_error)?;
    Ok(socket.into())
}

/// Runs one thread's runtime until the process exits.
fn serve_thread(listener: StdTcpListener, cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        pin_current_thread(cpu);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async {
        let listener = match TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("cannot register listener: {e}");
                std::process::exit(1);
            }
        };
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    // Replies are written whole; Nagle would only delay them.
                    if stream.set_nodelay(true).is_ok() {
                        tokio::spawn(serve_connection(stream));
                    }
                }
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                }
            }
        }
    });
}

/// Blocks the main thread until SIGINT or SIGTERM (systemd and shell scripts use the latter).
fn wait_for_shutdown_signal() -> Result<(), BenchError> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    runtime.block_on(async {
        let mut interrupt = signal(SignalKind::interrupt()).map_err(BenchError::Runtime)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(BenchError::Runtime)?;
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        Ok(())
    })
}

fn pin_current_thread(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET stays within it for cpu < CPU_SETSIZE, and
    // sched_setaffinity(0, ..) only changes the calling thread's affinity.
    let pinned = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % libc::CPU_SETSIZE as usize, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if pinned != 0 {
        eprintln!("cannot pin to CPU {cpu}: {}", std::io::Error::last_os_error());
    }
}

/// Serves one connection until the peer closes it or breaks the protocol.
async fn serve_connection(mut stream: TcpStream) {
    let mut read_buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut replies = Vec::with_capacity(READ_CHUNK_BYTES);
    loop {
        if read_buf.capacity() - read_buf.len() < READ_CHUNK_BYTES / 4 {
            read_buf.reserve(READ_CHUNK_BYTES);
        }
        match stream.read_buf(&mut read_buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let close = answer_requests(&mut read_buf, &mut replies);
        if !replies.is_empty() {
            if stream.write_all(&replies).await.is_err() {
                return;
            }
            replies.clear();
        }
        if close {
            return;
        }
    }
}

/// Answers every complete request in `read_buf` into `replies` and consumes it. Returns
/// true when the connection must close (a protocol error, already answered).
fn answer_requests(read_buf: &mut BytesMut, replies: &mut Vec<u8>) -> bool {
    loop {
        match scan_request(read_buf) {
            RequestScan::Complete { len, kind } => {
                match kind {
                    RequestKind::Ping => replies.extend_from_slice(PONG),
                    RequestKind::Other => replies.extend_from_slice(UNKNOWN_COMMAND),
                    RequestKind::Empty => {}
                }
                read_buf.advance(len);
            }
            RequestScan::Incomplete if read_buf.len() <= REQUEST_BYTES_MAX => return false,
            RequestScan::Incomplete => {
                replies.extend_from_slice(b"-ERR Protocol error: request too big\r\n");
                return true;
            }
            RequestScan::Invalid(message) => {
                // As Redis: answer, then close, because the stream cannot be re-synchronised.
                replies.extend_from_slice(b"-ERR Protocol error: ");
                replies.extend_from_slice(message.as_bytes());
                replies.extend_from_slice(b"\r\n");
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_a_pipeline_in_one_buffer() {
        let mut read_buf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$3\r\nGET\r\n*1\r\n$4"[..]);
        let mut replies = Vec::new();
        assert!(!answer_requests(&mut read_buf, &mut replies));
        assert_eq!(replies, b"+PONG\r\n+PONG\r\n-ERR unknown command\r\n");
        // The unfinished request stays for the next read.
        assert_eq!(&read_buf[..], b"*1\r\n$4");
    }

    #[test]
    fn protocol_error_is_answered_then_closes() {
        let mut read_buf = BytesMut::from(&b"PING\r\n*1\r\n:4\r\n"[..]);
        let mut replies = Vec::new();
        assert!(answer_requests(&mut read_buf, &mut replies));
        assert_eq!(replies, b"+PONG\r\n-ERR Protocol error: expected '$'\r\n");
    }
}
