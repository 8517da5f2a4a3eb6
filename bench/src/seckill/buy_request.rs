//! One connection's BUY request. The arguments live in buffers owned by the connection and
//! only the ones that change (SKU, user, REQID) are rewritten per request, in place; the
//! request is then encoded with the server's own codec (`shardhub_net::resp::encode_request`),
//! so the hot loop allocates nothing once the buffers have grown (the first request).

use bytes::BytesMut;
use shardhub_net::resp::encode_request;

use crate::seckill::decimal::Decimal;

pub struct BuyRequest {
    args: Vec<Vec<u8>>,
    sku_slot: usize,
    /// The `u<user>` argument; targets without users have none.
    user_slot: Option<usize>,
    /// The REQID value's argument and the length of its fixed `<connection>-` part.
    reqid_slot: Option<(usize, usize)>,
}

impl BuyRequest {
    /// `SECKILL.BUY <sku> u<user> [QTY q] [REQID <connection>-<seq>]`. QTY is left out when it
    /// is 1, the server's default, so that the default run sends the shortest request.
    pub fn shardhub(qty: u32, reqid_connection: Option<usize>) -> Self {
        let mut args = vec![b"SECKILL.BUY".to_vec(), Vec::new(), b"u".to_vec()];
        if qty != 1 {
            args.push(b"QTY".to_vec());
            args.push(Decimal::new(u64::from(qty)).as_bytes().to_vec());
        }
        let reqid_slot = reqid_connection.map(|connection| {
            let mut fixed = Decimal::new(connection as u64).as_bytes().to_vec();
            fixed.push(b'-');
            let fixed_len = fixed.len();
            args.push(b"REQID".to_vec());
            args.push(fixed);
            (args.len() - 1, fixed_len)
        });
        Self {
            args,
            sku_slot: 1,
            user_slot: Some(2),
            reqid_slot,
        }
    }

    /// `EVALSHA <sha> 1 <sku> <qty>`: the reference script has no users and no REQIDs.
    pub fn redis_lua(sha: &str, qty: u32) -> Self {
        let args = vec![
            b"EVALSHA".to_vec(),
            sha.as_bytes().to_vec(),
            b"1".to_vec(),
            Vec::new(),
            Decimal::new(u64::from(qty)).as_bytes().to_vec(),
        ];
        Self {
            args,
            sku_slot: 3,
            user_slot: None,
            reqid_slot: None,
        }
    }

    /// Appends one BUY of `sku` by user number `user`, with REQID sequence number `seq` (both
    /// ignored by a target that does not take them), to `out`.
    pub fn encode(&mut self, sku: &[u8], user: u64, seq: u64, out: &mut BytesMut) {
        let sku_arg = &mut self.args[self.sku_slot];
        sku_arg.clear();
        sku_arg.extend_from_slice(sku);
        if let Some(slot) = self.user_slot {
            let user_arg = &mut self.args[slot];
            user_arg.truncate(1); // Keeps the `u`.
            user_arg.extend_from_slice(Decimal::new(user).as_bytes());
        }
        if let Some((slot, fixed_len)) = self.reqid_slot {
            let reqid = &mut self.args[slot];
            reqid.truncate(fixed_len);
            reqid.extend_from_slice(Decimal::new(seq).as_bytes());
        }
        encode_request(&self.args, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(request: &mut BuyRequest, sku: &[u8], user: u64, seq: u64) -> BytesMut {
        let mut out = BytesMut::new();
        request.encode(sku, user, seq, &mut out);
        out
    }

    #[test]
    fn shardhub_minimal_buy() {
        let mut request = BuyRequest::shardhub(1, None);
        assert_eq!(
            &encoded(&mut request, b"sku:3", 42, 0)[..],
            b"*3\r\n$11\r\nSECKILL.BUY\r\n$5\r\nsku:3\r\n$3\r\nu42\r\n"
        );
    }

    #[test]
    fn shardhub_buy_with_qty_and_reqid_rewrites_in_place() {
        let mut request = BuyRequest::shardhub(2, Some(7));
        encoded(&mut request, b"sku:10", 123_456, 99);
        assert_eq!(
            &encoded(&mut request, b"a", 5, 100)[..],
            b"*7\r\n$11\r\nSECKILL.BUY\r\n$1\r\na\r\n$2\r\nu5\r\n$3\r\nQTY\r\n$1\r\n2\r\n\
              $5\r\nREQID\r\n$5\r\n7-100\r\n"
        );
    }

    #[test]
    fn redis_lua_evalsha() {
        let mut request = BuyRequest::redis_lua("abc", 3);
        assert_eq!(
            &encoded(&mut request, b"sku:0", 9, 9)[..],
            b"*5\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n1\r\n$5\r\nsku:0\r\n$1\r\n3\r\n"
        );
    }
}
