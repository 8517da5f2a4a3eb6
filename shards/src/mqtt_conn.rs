//! The MQTT connection driver, for now: read the CONNECT, answer "server unavailable" in the
//! client's protocol version, close. The broker replaces this with the IoT gateway work.

use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use shardhub_net::mqtt::{refuse_connect, Refusal};

use crate::read_buf::read_append;
use crate::shard::Shard;

/// A CONNECT's protocol level arrives within the first few bytes; wait no longer than this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_BUFFER_BYTES: usize = 512;

pub async fn serve(shard: Rc<Shard>, mut stream: TcpStream) {
    if !shard.admits_connection() {
        return;
    }
    shard.connection_opened();
    let _ = monoio::time::timeout(CONNECT_TIMEOUT, refuse(&mut stream)).await;
    shard.connection_closed();
}

async fn refuse(stream: &mut TcpStream) {
    let mut buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    loop {
        if buf.len() == buf.capacity() {
            return;
        }
        let (result, b) = read_append(stream, buf).await;
        buf = b;
        if !matches!(result, Ok(n) if n > 0) {
            return;
        }
        match refuse_connect(&buf) {
            Refusal::NeedMore => continue,
            Refusal::Close => return,
            Refusal::Connack(bytes) => {
                let _ = stream.write_all(bytes.to_vec()).await;
                return;
            }
        }
    }
}
