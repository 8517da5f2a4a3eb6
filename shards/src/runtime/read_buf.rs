//! Appending reads for monoio's owned-buffer I/O.

use bytes::BytesMut;
use monoio::buf::SliceMut;
use monoio::io::AsyncReadRent;
use monoio::net::TcpStream;

/// Reads into the spare capacity of `buf`, after the bytes it already holds. (monoio's
/// `BytesMut` buffer alone would be overwritten from its start.) Make room with `reserve`
/// first.
pub async fn read_append(stream: &mut TcpStream, buf: BytesMut) -> (std::io::Result<usize>, BytesMut) {
    let (len, capacity) = (buf.len(), buf.capacity());
    debug_assert!(capacity > len, "reserve before reading");
    let (result, slice) = stream.read(SliceMut::new(buf, len, capacity)).await;
    (result, slice.into_inner())
}
