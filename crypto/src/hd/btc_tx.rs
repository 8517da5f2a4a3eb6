//! Bitcoin transactions: the consensus serialization with and without the segwit witness
//! (BIP-144), txid and wtxid, weight, and a strict, bounded decoder.
//!
//! Hashes are kept in internal byte order, as they are serialized; [`display_hash`] reverses
//! them into the order explorers and RPCs show.

use sha2::{Digest, Sha256};

use super::error::HdError;

/// The decoder refuses larger input: 400,000 weight units is the largest standard
/// transaction, and no standard transaction has more bytes than weight units.
pub const BTC_TX_MAX_BYTES: usize = 400_000;

/// A previous output being spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutPoint {
    /// Internal byte order (the reverse of what explorers show).
    pub txid: [u8; 32],
    pub vout: u32,
}

impl OutPoint {
    /// Takes the txid as explorers and RPCs show it (display order, 64 hex digits).
    pub fn from_display_txid(field: &'static str, txid_hex: &str, vout: u32) -> Result<OutPoint, HdError> {
        let bytes = hex::decode(txid_hex).map_err(|_| HdError::Hex { field })?;
        let mut txid: [u8; 32] = bytes.try_into().map_err(|_| HdError::Hex { field })?;
        txid.reverse();
        Ok(OutPoint { txid, vout })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxIn {
    pub previous_output: OutPoint,
    /// Empty for native segwit inputs.
    pub script_sig: Vec<u8>,
    pub sequence: u32,
    /// The witness stack; empty for legacy inputs.
    pub witness: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOut {
    pub value_sat: u64,
    pub script_pubkey: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Signed in Bitcoin Core, but only 1 and 2 are standard; serialized as 4 bytes either way.
    pub version: u32,
    pub inputs: Vec<TxIn>,
    pub outputs: Vec<TxOut>,
    pub lock_time: u32,
}

pub(crate) fn sha256d(data: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(data)).into()
}

/// A hash in display order (byte-reversed hex), as txids are shown.
pub fn display_hash(hash: &[u8; 32]) -> String {
    let mut reversed = *hash;
    reversed.reverse();
    faster_hex::hex_string(&reversed)
}

pub(crate) fn write_compact_size(out: &mut Vec<u8>, n: usize) {
    let n = n as u64;
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

pub(crate) fn write_var_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_compact_size(out, bytes.len());
    out.extend_from_slice(bytes);
}

pub(crate) fn write_outpoint(out: &mut Vec<u8>, outpoint: &OutPoint) {
    out.extend_from_slice(&outpoint.txid);
    out.extend_from_slice(&outpoint.vout.to_le_bytes());
}

pub(crate) fn write_output(out: &mut Vec<u8>, output: &TxOut) {
    out.extend_from_slice(&output.value_sat.to_le_bytes());
    write_var_bytes(out, &output.script_pubkey);
}

impl Transaction {
    pub fn has_witness(&self) -> bool {
        self.inputs.iter().any(|input| !input.witness.is_empty())
    }

    /// The network serialization: with the BIP-144 marker, flag and witnesses when any input
    /// has a witness.
    pub fn serialize(&self) -> Vec<u8> {
        self.encode(self.has_witness())
    }

    /// The serialization the txid hashes (no witness).
    pub fn serialize_without_witness(&self) -> Vec<u8> {
        self.encode(false)
    }

    fn encode(&self, with_witness: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(10 + self.inputs.len() * 150 + self.outputs.len() * 40);
        out.extend_from_slice(&self.version.to_le_bytes());
        if with_witness {
            out.extend_from_slice(&[0x00, 0x01]);
        }
        write_compact_size(&mut out, self.inputs.len());
        for input in &self.inputs {
            write_outpoint(&mut out, &input.previous_output);
            write_var_bytes(&mut out, &input.script_sig);
            out.extend_from_slice(&input.sequence.to_le_bytes());
        }
        write_compact_size(&mut out, self.outputs.len());
        for output in &self.outputs {
            write_output(&mut out, output);
        }
        if with_witness {
            for input in &self.inputs {
                write_compact_size(&mut out, input.witness.len());
                for item in &input.witness {
                    write_var_bytes(&mut out, item);
                }
            }
        }
        out.extend_from_slice(&self.lock_time.to_le_bytes());
        out
    }

    /// Internal byte order; see [`display_hash`].
    pub fn txid(&self) -> [u8; 32] {
        sha256d(&self.serialize_without_witness())
    }

    /// Equal to the txid when there is no witness (BIP-141).
    pub fn wtxid(&self) -> [u8; 32] {
        sha256d(&self.serialize())
    }

    /// BIP-141 weight: base size times three plus total size.
    pub fn weight(&self) -> usize {
        self.serialize_without_witness().len() * 3 + self.serialize().len()
    }

    /// Virtual size in vbytes, what fee rates are quoted per.
    pub fn vsize(&self) -> usize {
        self.weight().div_ceil(4)
    }

    /// Decodes a serialized transaction, legacy or segwit. Refuses trailing bytes,
    /// non-canonical lengths, a segwit flag other than 1 and a segwit encoding whose witnesses
    /// are all empty, so that one transaction has one encoding.
    pub fn decode(bytes: &[u8]) -> Result<Transaction, HdError> {
        if bytes.len() > BTC_TX_MAX_BYTES {
            return Err(malformed("larger than 400,000 bytes"));
        }
        let mut reader = Reader { bytes, pos: 0 };
        let version = reader.u32()?;
        let segwit = reader.peek() == Some(0x00);
        if segwit {
            reader.take(1)?;
            if reader.u8()? != 0x01 {
                return Err(malformed("segwit flag is not 1"));
            }
        }
        // Each input takes at least 41 bytes and each output 9, which bounds the counts
        // before anything is allocated for them.
        let input_count = reader.count(41)?;
        let mut inputs = Vec::with_capacity(input_count);
        for _ in 0..input_count {
            let txid = reader.take(32)?.try_into().expect("32 bytes");
            let vout = reader.u32()?;
            let script_sig = reader.var_bytes()?.to_vec();
            let sequence = reader.u32()?;
            inputs.push(TxIn {
                previous_output: OutPoint { txid, vout },
                script_sig,
                sequence,
                witness: Vec::new(),
            });
        }
        let output_count = reader.count(9)?;
        let mut outputs = Vec::with_capacity(output_count);
        for _ in 0..output_count {
            let value_sat = reader.u64()?;
            let script_pubkey = reader.var_bytes()?.to_vec();
            outputs.push(TxOut {
                value_sat,
                script_pubkey,
            });
        }
        if segwit {
            for input in &mut inputs {
                let items = reader.count(1)?;
                for _ in 0..items {
                    input.witness.push(reader.var_bytes()?.to_vec());
                }
            }
            if inputs.iter().all(|input| input.witness.is_empty()) {
                return Err(malformed("segwit encoding without any witness"));
            }
        }
        let lock_time = reader.u32()?;
        if reader.pos != bytes.len() {
            return Err(malformed("trailing bytes"));
        }
        Ok(Transaction {
            version,
            inputs,
            outputs,
            lock_time,
        })
    }
}

fn malformed(reason: &'static str) -> HdError {
    HdError::TxField {
        field: "raw_tx",
        reason,
    }
}

/// A bounds-checked cursor: every read past the end is an error, never a panic.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], HdError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(malformed("truncated"))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, HdError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, HdError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64, HdError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    /// A CompactSize in its shortest form (Bitcoin Core refuses longer ones).
    fn compact_size(&mut self) -> Result<u64, HdError> {
        let (value, min) = match self.u8()? {
            0xfd => (
                u64::from(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes"))),
                0xfd,
            ),
            0xfe => (u64::from(self.u32()?), 0x1_0000),
            0xff => (self.u64()?, 0x1_0000_0000),
            small => return Ok(u64::from(small)),
        };
        if value < min {
            return Err(malformed("non-canonical length"));
        }
        Ok(value)
    }

    /// A count of items of at least `min_item_len` bytes each, checked against what is left.
    fn count(&mut self, min_item_len: usize) -> Result<usize, HdError> {
        let n = self.compact_size()?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n.saturating_mul(min_item_len as u64) > left {
            return Err(malformed("count larger than the bytes left"));
        }
        Ok(n as usize)
    }

    fn var_bytes(&mut self) -> Result<&'a [u8], HdError> {
        let len = self.compact_size()?;
        let len = usize::try_from(len).map_err(|_| malformed("truncated"))?;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::wallet_vectors;
    use proptest::prelude::*;

    #[test]
    fn bip143_unsigned_transactions_decode_and_reencode() {
        let vectors = wallet_vectors();
        for case in vectors["btc_bip143"].as_array().unwrap() {
            let raw = hex::decode(case["unsigned_tx"].as_str().unwrap()).unwrap();
            let tx = Transaction::decode(&raw).unwrap();
            assert!(!tx.has_witness());
            assert_eq!(tx.serialize(), raw);
            assert_eq!(tx.txid(), tx.wtxid());
        }
    }

    #[test]
    fn genesis_coinbase_txid() {
        // The only transaction of block 0; its txid is the genesis Merkle root.
        let raw = concat!(
            "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d01",
            "04455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f662073",
            "65636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe55482719",
            "67f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a",
            "4c702b6bf11d5fac00000000",
        );
        let tx = Transaction::decode(&hex::decode(raw).unwrap()).unwrap();
        assert_eq!(
            display_hash(&tx.txid()),
            "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
        );
        assert_eq!(tx.weight(), 204 * 4);
        assert_eq!(tx.vsize(), 204);
    }

    #[test]
    fn malformed_encodings_are_refused() {
        let vectors = wallet_vectors();
        let raw = hex::decode(vectors["btc_bip143"][0]["unsigned_tx"].as_str().unwrap()).unwrap();
        let mut trailing = raw.clone();
        trailing.push(0);
        let mut bad_flag = raw[..4].to_vec();
        bad_flag.extend_from_slice(&[0x00, 0x02]);
        bad_flag.extend_from_slice(&raw[4..]);
        let mut empty_witness = raw[..4].to_vec();
        empty_witness.extend_from_slice(&[0x00, 0x01]);
        empty_witness.extend_from_slice(&raw[4..raw.len() - 4]);
        empty_witness.extend_from_slice(&[0x00, 0x00]);
        empty_witness.extend_from_slice(&raw[raw.len() - 4..]);
        let mut long_count = raw[..4].to_vec();
        long_count.extend_from_slice(&[0xfd, 0x02, 0x00]);
        long_count.extend_from_slice(&raw[5..]);
        let huge_count = [&raw[..4], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..]].concat();
        for (name, bad) in [
            ("truncated", &raw[..raw.len() - 1]),
            ("trailing", &trailing[..]),
            ("flag", &bad_flag[..]),
            ("empty witness", &empty_witness[..]),
            ("long count", &long_count[..]),
            ("huge count", &huge_count[..]),
            ("empty", &[][..]),
        ] {
            assert!(
                matches!(Transaction::decode(bad), Err(HdError::TxField { field: "raw_tx", .. })),
                "{name}"
            );
        }
        assert!(Transaction::decode(&vec![0; BTC_TX_MAX_BYTES + 1]).is_err());
    }

    fn any_tx() -> impl Strategy<Value = Transaction> {
        let input = (
            any::<[u8; 32]>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..80),
            any::<u32>(),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..3),
        )
            .prop_map(|(txid, vout, script_sig, sequence, witness)| TxIn {
                previous_output: OutPoint { txid, vout },
                script_sig,
                sequence,
                witness,
            });
        let output =
            (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..300)).prop_map(|(value_sat, script_pubkey)| {
                TxOut {
                    value_sat,
                    script_pubkey,
                }
            });
        (
            any::<u32>(),
            proptest::collection::vec(input, 1..4),
            proptest::collection::vec(output, 0..4),
            any::<u32>(),
        )
            .prop_map(|(version, inputs, outputs, lock_time)| Transaction {
                version,
                inputs,
                outputs,
                lock_time,
            })
    }

    proptest! {
        #[test]
        fn serialization_round_trips(tx in any_tx()) {
            let raw = tx.serialize();
            prop_assert_eq!(Transaction::decode(&raw), Ok(tx.clone()));
            prop_assert_eq!(tx.has_witness(), tx.txid() != tx.wtxid());
            prop_assert!(tx.weight() >= tx.serialize_without_witness().len() * 4);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Transaction::decode(&bytes);
        }
    }
}
