//! Until the broker exists, the MQTT listener on every shard refuses CONNECT in the client's
//! own protocol version.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Server;

fn connect_and_read(port: u16, packet: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(packet).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    reply
}

#[test]
fn connect_gets_server_unavailable_in_its_version() {
    let server = Server::start(2);
    let v5 = b"\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x03dev";
    let v311 = b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03dev";
    for _ in 0..8 {
        assert_eq!(
            connect_and_read(server.mqtt_port, v5),
            vec![0x20, 0x03, 0x00, 0x88, 0x00]
        );
        assert_eq!(connect_and_read(server.mqtt_port, v311), vec![0x20, 0x02, 0x00, 0x03]);
    }
    assert_eq!(
        connect_and_read(server.mqtt_port, b"PING\r\n"),
        Vec::<u8>::new(),
        "not MQTT: closed"
    );
    assert_eq!(server.raw().call(&["PING"]), "+PONG\r\n");
}
