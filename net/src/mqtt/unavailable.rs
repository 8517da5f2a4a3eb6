//! Refusing a CONNECT with "server unavailable": CONNACK reason 0x88 in MQTT v5, return code
//! 0x03 in 3.1.1 (the codes both specifications give for a server that cannot serve now).

/// What to answer to the bytes received so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// More bytes are needed to see the protocol level.
    NeedMore,
    /// Send these bytes, then close.
    Connack(&'static [u8]),
    /// Not a CONNECT (or not MQTT): close without answering, as the specifications require.
    Close,
}

const CONNACK_V5_SERVER_UNAVAILABLE: &[u8] = &[0x20, 0x03, 0x00, 0x88, 0x00];
const CONNACK_V311_SERVER_UNAVAILABLE: &[u8] = &[0x20, 0x02, 0x00, 0x03];

/// Reads the fixed header, the protocol name and the protocol level of a CONNECT.
pub fn refuse_connect(buf: &[u8]) -> Refusal {
    if buf.is_empty() {
        return Refusal::NeedMore;
    }
    if buf[0] != 0x10 {
        return Refusal::Close;
    }
    // Remaining length: 1 to 4 bytes, 7 bits each.
    let mut at = 1;
    loop {
        match buf.get(at) {
            None => return Refusal::NeedMore,
            Some(b) if b & 0x80 == 0 => break,
            Some(_) if at == 4 => return Refusal::Close,
            Some(_) => at += 1,
        }
    }
    let name_at = at + 1;
    let Some(name) = buf.get(name_at..name_at + 6) else {
        return Refusal::NeedMore;
    };
    if name != b"\x00\x04MQTT" {
        return Refusal::Close;
    }
    match buf.get(name_at + 6) {
        None => Refusal::NeedMore,
        Some(5) => Refusal::Connack(CONNACK_V5_SERVER_UNAVAILABLE),
        Some(3) | Some(4) => Refusal::Connack(CONNACK_V311_SERVER_UNAVAILABLE),
        Some(_) => Refusal::Close,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_each_version_in_its_own_terms() {
        let v5 = b"\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x03dev";
        assert_eq!(refuse_connect(v5), Refusal::Connack(&[0x20, 0x03, 0x00, 0x88, 0x00]));
        let v311 = b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03dev";
        assert_eq!(refuse_connect(v311), Refusal::Connack(&[0x20, 0x02, 0x00, 0x03]));
        for cut in 0..9 {
            assert_eq!(refuse_connect(&v5[..cut]), Refusal::NeedMore, "{cut}");
        }
        assert_eq!(refuse_connect(b"GET / HTTP/1.1\r\n"), Refusal::Close);
        assert_eq!(refuse_connect(b"\x10\xff\xff\xff\xff\x00"), Refusal::Close);
    }
}
