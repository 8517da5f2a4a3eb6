//! The PROXY protocol header (v1 text, v2 binary) an L4 load balancer writes before a
//! client's bytes, saying who the client is. The header is peeked (`MSG_PEEK`) until it is
//! whole, then exactly its bytes are taken from the socket, so whatever follows (a TLS
//! ClientHello, an MQTT CONNECT) stays there for the protocol driver. Parsing is the `ppp`
//! crate's.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use monoio::net::TcpStream;
use ppp::{v1, v2, HeaderResult, PartialResult};

use crate::config::ProxyListenerConfig;

/// The most header bytes looked at: a v1 line is at most 107, a v2 header 16 plus 216 of
/// addresses plus the balancer's TLVs.
const HEADER_BYTES_MAX: usize = 1024;
/// How long a connection has to deliver its header (a balancer writes it at once).
const HEADER_TIMEOUT: Duration = Duration::from_secs(3);
/// How long to wait before peeking again at a header that is not whole yet: peeked bytes
/// keep the socket readable, so waiting for readiness would spin.
const PEEK_RETRY: Duration = Duration::from_millis(5);

/// What one listener expects, when it expects a header at all.
#[derive(Debug, Clone)]
pub struct ProxyPolicy {
    v1: bool,
    v2: bool,
    from: Vec<IpNet>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyRefusal {
    #[error("{0} is not in the listener's proxy sources")]
    Untrusted(IpAddr),
    #[error("no PROXY header within {} s", HEADER_TIMEOUT.as_secs())]
    TimedOut,
    #[error("the connection closed before its PROXY header")]
    Closed,
    #[error("bad PROXY header: {0}")]
    Malformed(String),
    #[error("a PROXY {0} header where the listener takes the other version")]
    WrongVersion(&'static str),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ProxyPolicy {
    /// The policy of a listener's `[proxy.<listener>]`; `None` when its mode is off.
    pub fn of(config: &ProxyListenerConfig) -> Option<ProxyPolicy> {
        let (v1, v2) = match config.mode.as_str() {
            "v1" => (true, false),
            "v2" => (false, true),
            "any" => (true, true),
            _ => return None,
        };
        // Validated with the config: every entry parses.
        let from = config.from.iter().filter_map(|n| n.parse().ok()).collect();
        Some(ProxyPolicy { v1, v2, from })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.from.iter().any(|net| net.contains(&ip))
    }
}

/// Reads the header a connection from `peer` must start with. Returns the client's address:
/// the header's source, or `peer` itself for a LOCAL (v2) or UNKNOWN (v1) header, which
/// balancers send for their own health checks.
pub async fn read(stream: &TcpStream, peer: SocketAddr, policy: &ProxyPolicy) -> Result<SocketAddr, ProxyRefusal> {
    if !policy.trusts(peer.ip()) {
        return Err(ProxyRefusal::Untrusted(peer.ip()));
    }
    let deadline = Instant::now() + HEADER_TIMEOUT;
    let mut buf = [0u8; HEADER_BYTES_MAX];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ProxyRefusal::TimedOut);
        }
        monoio::time::timeout(left, stream.readable(false))
            .await
            .map_err(|_| ProxyRefusal::TimedOut)??;
        let n = peek(stream.as_raw_fd(), &mut buf)?;
        if n == 0 {
            return Err(ProxyRefusal::Closed);
        }
        match parse(&buf[..n], policy)? {
            Some((len, client)) => {
                take(stream.as_raw_fd(), len)?;
                return Ok(client.unwrap_or(peer));
            }
            None if n == buf.len() => return Err(ProxyRefusal::Malformed("longer than 1024 bytes".into())),
            None => monoio::time::sleep(PEEK_RETRY).await,
        }
    }
}

/// The header at the start of `bytes`: its length and the client address it names (`None`:
/// the balancer's own connection). `Ok(None)`: not whole yet.
fn parse(bytes: &[u8], policy: &ProxyPolicy) -> Result<Option<(usize, Option<SocketAddr>)>, ProxyRefusal> {
    let result = HeaderResult::parse(bytes);
    if result.is_incomplete() {
        return Ok(None);
    }
    match result {
        HeaderResult::V1(Ok(h)) if policy.v1 => {
            let client = match h.addresses {
                v1::Addresses::Tcp4(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
                v1::Addresses::Tcp6(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
                v1::Addresses::Unknown => None,
            };
            Ok(Some((h.header.len(), client)))
        }
        HeaderResult::V2(Ok(h)) if policy.v2 => {
            let client = match (h.command, h.addresses) {
                (v2::Command::Local, _) => None,
                (_, v2::Addresses::IPv4(a)) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
                (_, v2::Addresses::IPv6(a)) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
                (_, v2::Addresses::Unix(_) | v2::Addresses::Unspecified) => None,
            };
            Ok(Some((h.len(), client)))
        }
        HeaderResult::V1(Ok(_)) => Err(ProxyRefusal::WrongVersion("v1")),
        HeaderResult::V2(Ok(_)) => Err(ProxyRefusal::WrongVersion("v2")),
        HeaderResult::V1(Err(e)) => Err(ProxyRefusal::Malformed(e.to_string())),
        HeaderResult::V2(Err(e)) => Err(ProxyRefusal::Malformed(e.to_string())),
    }
}

fn peek(fd: i32, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(0),
            _ => return Err(e),
        }
    }
}

/// Takes the header's `len` bytes, already peeked, off the socket.
fn take(fd: i32, len: usize) -> std::io::Result<()> {
    let mut sink = [0u8; HEADER_BYTES_MAX];
    let mut taken = 0;
    while taken < len {
        match crate::runtime::read_buf::recv_some(fd, &mut sink[..len - taken])? {
            Some(0) | None => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Some(n) => taken += n,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: &str) -> ProxyPolicy {
        ProxyPolicy::of(&ProxyListenerConfig {
            mode: mode.into(),
            from: vec!["127.0.0.0/8".into()],
        })
        .unwrap()
    }

    /// A v2 PROXY header over TCP4 (the spec's layout, section 2.2).
    fn v2_tcp4(src: [u8; 4], sport: u16) -> Vec<u8> {
        let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        h.extend_from_slice(&[0x21, 0x11, 0, 12]);
        h.extend_from_slice(&src);
        h.extend_from_slice(&[127, 0, 0, 1]);
        h.extend_from_slice(&sport.to_be_bytes());
        h.extend_from_slice(&6379u16.to_be_bytes());
        h
    }

    #[test]
    fn headers_name_the_client_and_their_length() {
        let line = b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 6379\r\nPING\r\n";
        let (len, client) = parse(line, &policy("v1")).unwrap().unwrap();
        assert_eq!(&line[len..], b"PING\r\n");
        assert_eq!(client, Some("192.0.2.7:40000".parse().unwrap()));
        let mut v2 = v2_tcp4([198, 51, 100, 9], 50000);
        v2.extend_from_slice(b"\x16\x03\x01");
        let (len, client) = parse(&v2, &policy("any")).unwrap().unwrap();
        assert_eq!(len, 28);
        assert_eq!(client, Some("198.51.100.9:50000".parse().unwrap()));
        let unknown = b"PROXY UNKNOWN\r\n";
        assert_eq!(parse(unknown, &policy("v1")).unwrap(), Some((unknown.len(), None)));
    }

    #[test]
    fn partial_forged_and_unexpected_headers_are_told_apart() {
        assert_eq!(parse(b"PROXY TCP4 192.0.2.7 127.0.0", &policy("v1")).unwrap(), None);
        assert_eq!(parse(&v2_tcp4([1, 2, 3, 4], 1)[..20], &policy("v2")).unwrap(), None);
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\n\r\n", &policy("any")),
            Err(ProxyRefusal::Malformed(_))
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 999.0.2.7 127.0.0.1 1 2\r\n", &policy("v1")),
            Err(ProxyRefusal::Malformed(_))
        ));
        assert!(matches!(
            parse(&v2_tcp4([1, 2, 3, 4], 1), &policy("v1")),
            Err(ProxyRefusal::WrongVersion("v2"))
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 192.0.2.7 127.0.0.1 1 2\r\n", &policy("v2")),
            Err(ProxyRefusal::WrongVersion("v1"))
        ));
    }

    #[test]
    fn only_the_balancers_networks_are_trusted() {
        let p = policy("v2");
        assert!(p.trusts("127.0.0.1".parse().unwrap()));
        assert!(p.trusts("::ffff:127.0.0.9".parse().unwrap()));
        assert!(!p.trusts("10.0.0.1".parse().unwrap()));
    }
}
