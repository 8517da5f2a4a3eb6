//! Reads: appending ones for monoio's owned-buffer I/O, and non-blocking ones for
//! readiness-style connections that hold no buffer while idle.

use bytes::BytesMut;
use monoio::buf::SliceMut;
use monoio::io::AsyncReadRent;
use monoio::net::TcpStream;
use std::os::fd::RawFd;

/// Reads into the spare capacity of `buf`, after the bytes it already holds. (monoio's
/// `BytesMut` buffer alone would be overwritten from its start.) Make room with `reserve`
/// first.
pub async fn read_append(stream: &mut TcpStream, buf: BytesMut) -> (std::io::Result<usize>, BytesMut) {
    let (len, capacity) = (buf.len(), buf.capacity());
    debug_assert!(capacity > len, "reserve before reading");
    let (result, slice) = stream.read(SliceMut::new(buf, len, capacity)).await;
    (result, slice.into_inner())
}

/// One non-blocking `recv` into `buf`: bytes read (0 at end of stream), None when nothing is
/// there now, or why it failed.
pub fn recv_some(fd: RawFd, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(None),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}
