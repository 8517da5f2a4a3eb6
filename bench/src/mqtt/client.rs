//! One MQTT client connection of the harness: the CONNECT/CONNACK handshake, SUBSCRIBE,
//! packets out through a reused write buffer, packets in through `shardhub_net::mqtt::decode`
//! (the server's own codec, DESIGN.md's `bench -> net`), and the keep alive.
//!
//! It is deliberately not a general client: no session resumption, no QoS 2, no topic
//! aliases, no AUTH. Everything a benchmark connection does is sequential (write, then
//! read), so the stream is not split.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU16;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use shardhub_net::mqtt::{
    decode, ConnAck, Connect, DecodeError, Disconnect, MqttStr, Packet, PacketType, ProtocolVersion, QoS, ReasonCode,
    Subscribe, Subscription, SubscriptionOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::error::BenchError;

/// The largest packet the harness accepts from a server; ours are far smaller.
const PACKET_BYTES_MAX: u32 = 16 * 1024 * 1024;
/// How long a DISCONNECTing client waits for the server to close the connection.
const SERVER_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What the CONNECT says.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub version: ProtocolVersion,
    /// Seconds; 0 turns keep alive off.
    pub keep_alive_s: u16,
    pub client_id: String,
    /// Local address to connect from (`--bind`); `None` lets the kernel choose.
    pub source: Option<IpAddr>,
}

/// Why a connection failed. Its `Display` is short and free of per-connection detail, so
/// that the `connect` report can count failures by it.
#[derive(Debug)]
pub enum ClientError {
    /// The TCP connection could not be made.
    Connect(io::Error),
    Io(io::Error),
    /// The server closed the connection.
    Closed,
    Malformed(DecodeError),
    /// A CONNACK with a failure code.
    Refused(ReasonCode),
    /// The server sent DISCONNECT (5.0).
    Disconnected(ReasonCode),
    /// A packet that makes no sense at this point.
    Unexpected {
        got: PacketType,
        waiting_for: &'static str,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "tcp connect: {e}"),
            Self::Io(e) => write!(f, "i/o: {e}"),
            Self::Closed => f.write_str("closed by the server"),
            Self::Malformed(e) => write!(f, "malformed packet from the server: {e}"),
            Self::Refused(code) => write!(f, "CONNACK {code}"),
            Self::Disconnected(code) => write!(f, "DISCONNECT {code}"),
            Self::Unexpected { got, waiting_for } => write!(f, "{got} while waiting for {waiting_for}"),
        }
    }
}

impl ClientError {
    /// The harness's error for a run that this failure ends; `who` says which connection
    /// (for example "subscriber 3").
    pub fn into_bench(self, addr: SocketAddr, who: &str) -> BenchError {
        match self {
            Self::Connect(source) => BenchError::Connect { addr, source },
            Self::Io(source) => BenchError::Io { addr, source },
            other => BenchError::UnexpectedReply {
                addr,
                reply: format!("{who}: {other}"),
            },
        }
    }
}

pub struct MqttClient {
    stream: TcpStream,
    version: ProtocolVersion,
    read_buf: BytesMut,
    write_buf: BytesMut,
    /// Bytes the read buffer is grown by when it runs low.
    read_chunk: usize,
    /// Negotiated: the Server Keep Alive if the server sent one, else what we asked for.
    keep_alive: Option<Duration>,
    last_sent: Instant,
}

impl MqttClient {
    /// Connects, sends CONNECT and waits for a successful CONNACK. `read_chunk` sizes the
    /// read buffer: small for idle connections, tens of KiB for subscribers.
    pub async fn connect(
        addr: SocketAddr,
        options: &ConnectOptions,
        read_chunk: usize,
    ) -> Result<(Self, ConnAck), ClientError> {
        let stream = match options.source {
            None => TcpStream::connect(addr).await,
            Some(source) => connect_from(source, addr).await,
        }
        .map_err(ClientError::Connect)?;
        // PUBLISH batches are written whole; Nagle would only hold back acks and pings.
        stream.set_nodelay(true).map_err(ClientError::Io)?;
        let mut client = Self {
            stream,
            version: options.version,
            read_buf: BytesMut::new(),
            write_buf: BytesMut::with_capacity(read_chunk.min(4096)),
            read_chunk,
            keep_alive: None,
            last_sent: Instant::now(),
        };
        let client_id =
            MqttStr::try_from(options.client_id.as_str()).expect("client ids are built by the harness from ASCII");
        client.queue(&Packet::Connect(Box::new(Connect {
            protocol_version: options.version,
            clean_start: true,
            keep_alive: options.keep_alive_s,
            client_id,
            ..Connect::default()
        })));
        client.flush().await?;
        let connack = loop {
            match client.next_packet()? {
                Some(Packet::ConnAck(connack)) => break connack,
                Some(other) => {
                    return Err(ClientError::Unexpected {
                        got: other.packet_type(),
                        waiting_for: "CONNACK",
                    })
                }
                None => client.read_more().await?,
            }
        };
        if connack.reason_code.is_error() {
            return Err(ClientError::Refused(connack.reason_code));
        }
        let keep_alive_s = connack.properties.server_keep_alive.unwrap_or(options.keep_alive_s);
        client.keep_alive = (keep_alive_s > 0).then(|| Duration::from_secs(keep_alive_s.into()));
        Ok((client, *connack))
    }

    /// Subscribes to one filter (packet id 1: the harness subscribes once per connection)
    /// and returns the SUBACK's code for it.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<ReasonCode, ClientError> {
        let filter = MqttStr::try_from(filter).expect("filters are built by the harness from ASCII");
        self.queue(&Packet::Subscribe(Subscribe {
            packet_id: NonZeroU16::MIN,
            properties: Default::default(),
            filters: vec![Subscription {
                filter,
                options: SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                },
            }],
        }));
        self.flush().await?;
        loop {
            match self.next_packet()? {
                Some(Packet::SubAck(suback)) => {
                    return Ok(suback
                        .reason_codes
                        .first()
                        .copied()
                        .unwrap_or(ReasonCode::UNSPECIFIED_ERROR))
                }
                Some(other) => {
                    return Err(ClientError::Unexpected {
                        got: other.packet_type(),
                        waiting_for: "SUBACK",
                    })
                }
                None => self.read_more().await?,
            }
        }
    }

    /// Encodes `packet` into the write buffer; [`flush`](Self::flush) sends it.
    pub fn queue(&mut self, packet: &Packet) {
        packet
            .encode(self.version, &mut self.write_buf)
            .expect("the harness encodes only packets valid in its version");
    }

    /// Where pre-encoded packets (see `publish_template.rs`) are appended.
    pub fn write_buf(&mut self) -> &mut BytesMut {
        &mut self.write_buf
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.write_buf).await.map_err(ClientError::Io)?;
        self.write_buf.clear();
        self.last_sent = Instant::now();
        Ok(())
    }

    /// One read from the socket into the read buffer; [`ClientError::Closed`] at its end.
    /// Cancel safe: nothing is lost if the future is dropped.
    pub async fn read_more(&mut self) -> Result<(), ClientError> {
        self.reserve_read();
        match self.stream.read_buf(&mut self.read_buf).await {
            Ok(0) => Err(ClientError::Closed),
            Ok(_) => Ok(()),
            Err(e) => Err(ClientError::Io(e)),
        }
    }

    /// Reads what is there without waiting; `false` if nothing was.
    pub fn try_read_more(&mut self) -> Result<bool, ClientError> {
        self.reserve_read();
        match self.stream.try_read_buf(&mut self.read_buf) {
            Ok(0) => Err(ClientError::Closed),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(ClientError::Io(e)),
        }
    }

    fn reserve_read(&mut self) {
        if self.read_buf.capacity() - self.read_buf.len() < self.read_chunk / 2 {
            self.read_buf.reserve(self.read_chunk);
        }
    }

    /// The next whole packet in the read buffer. A DISCONNECT from the server is an error:
    /// no benchmark connection expects one.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, ClientError> {
        match decode(&mut self.read_buf, self.version, PACKET_BYTES_MAX) {
            Ok(Some(Packet::Disconnect(Disconnect { reason_code, .. }))) => Err(ClientError::Disconnected(reason_code)),
            Ok(packet) => Ok(packet),
            Err(e) => Err(ClientError::Malformed(e)),
        }
    }

    /// When the next PINGREQ is due if nothing else is sent: three quarters into the keep
    /// alive, leaving the server's 1.5x grace untouched. `None` with keep alive off.
    pub fn ping_due(&self) -> Option<Instant> {
        self.keep_alive.map(|keep_alive| self.last_sent + keep_alive * 3 / 4)
    }

    /// Queues a PINGREQ if one is due at `now`.
    pub fn queue_ping_if_due(&mut self, now: Instant) -> bool {
        let due = self.ping_due().is_some_and(|due| now >= due);
        if due {
            self.queue(&Packet::PingReq);
        }
        due
    }

    /// A polite goodbye: DISCONNECT (normal), then wait (briefly) for the server to close
    /// first. Failures no longer matter.
    ///
    /// Why wait: the side that closes first keeps the connection in TIME_WAIT for a minute.
    /// On the client that pins an ephemeral port, and after a few runs of 15,000 connections
    /// the kernel's search for a free port makes `connect` take hundreds of milliseconds,
    /// which would show up as the next run's connect latency. On the server TIME_WAIT pins
    /// nothing (its side is the listening port).
    pub async fn disconnect(mut self) {
        self.queue(&Packet::Disconnect(Disconnect::default()));
        if self.flush().await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(SERVER_CLOSE_WAIT, async {
            loop {
                self.read_buf.clear();
                if self.read_more().await.is_err() {
                    break;
                }
            }
        })
        .await;
    }
}

/// Connects from `source` with the port left for `connect` to choose.
///
/// Why: `connect` picks an ephemeral port per (source, destination) pair, and Linux tries
/// the even half of `ip_local_port_range` first; past about 14,000 connections from one
/// address to one server every connect scans that half in vain, holding the client thread
/// for milliseconds each, and the ramp's latencies fill with the client's own stalls. Each
/// extra source address (any 127.x.y.z on loopback) brings a fresh set of ports.
/// IP_BIND_ADDRESS_NO_PORT keeps `bind` from reserving a port of its own.
async fn connect_from(source: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    let enable: libc::c_int = 1;
    // SAFETY: the descriptor is the socket's, and the option value is a live c_int.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&enable as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_texts_are_per_reason_not_per_connection() {
        assert_eq!(
            ClientError::Refused(ReasonCode::QUOTA_EXCEEDED).to_string(),
            "CONNACK 0x97 (Quota exceeded)"
        );
        assert_eq!(
            ClientError::Disconnected(ReasonCode::KEEP_ALIVE_TIMEOUT).to_string(),
            "DISCONNECT 0x8d (Keep Alive timeout)"
        );
        assert_eq!(
            ClientError::Unexpected {
                got: PacketType::PubAck,
                waiting_for: "CONNACK"
            }
            .to_string(),
            "PUBACK while waiting for CONNACK"
        );
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(ClientError::Connect(refused).to_string().starts_with("tcp connect: "));
    }

    #[test]
    fn run_ending_errors_name_the_connection() {
        let addr: SocketAddr = "127.0.0.1:1883".parse().unwrap();
        let error = ClientError::Closed.into_bench(addr, "subscriber 3");
        assert_eq!(
            error.to_string(),
            "unexpected reply from 127.0.0.1:1883: subscriber 3: closed by the server"
        );
    }
}
