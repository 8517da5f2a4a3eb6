//! A SKU's counters as `STOCK.GET` reports them.

use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::types::OwnedFrame;

/// Signed, so that a counter gone below zero (the very bug the audit looks for) is read as
/// what it is rather than refused as unparsable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StockLevels {
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
    pub limit: i64,
    pub hold: i64,
    pub total: i64,
}

impl StockLevels {
    /// Reads the RESP2 form: a flat array of name/value pairs, values as integers or as
    /// numeric strings. Fields may come in any order; all six must be present.
    pub fn parse(reply: &[u8]) -> Result<Self, String> {
        let frame = match decode(reply) {
            Ok(Some((frame, _))) => frame,
            _ => return Err("not a complete RESP2 reply".into()),
        };
        let items = match frame {
            OwnedFrame::Array(items) if items.len() % 2 == 0 => items,
            OwnedFrame::Error(e) => return Err(e),
            _ => return Err("not a flat array of name/value pairs".into()),
        };
        let mut levels = Self::default();
        let mut seen = 0u8;
        for pair in items.chunks_exact(2) {
            let name = text_of(&pair[0]).ok_or("a field name is not a string")?;
            let value = number_of(&pair[1]).ok_or_else(|| format!("{name} is not an integer"))?;
            let (bit, field) = match name.as_str() {
                "available" => (0, &mut levels.available),
                "reserved" => (1, &mut levels.reserved),
                "sold" => (2, &mut levels.sold),
                "limit" => (3, &mut levels.limit),
                "hold" => (4, &mut levels.hold),
                "total" => (5, &mut levels.total),
                _ => continue, // A field added later does not break the audit.
            };
            *field = value;
            seen |= 1 << bit;
        }
        const ALL_FIELDS: u8 = 0b11_1111;
        if seen == ALL_FIELDS {
            Ok(levels)
        } else {
            Err("missing one of available reserved sold limit hold total".into())
        }
    }
}

fn text_of(frame: &OwnedFrame) -> Option<String> {
    match frame {
        OwnedFrame::BulkString(b) | OwnedFrame::SimpleString(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

fn number_of(frame: &OwnedFrame) -> Option<i64> {
    match frame {
        OwnedFrame::Integer(n) => Some(*n),
        OwnedFrame::BulkString(b) | OwnedFrame::SimpleString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integer_values_in_any_order() {
        let reply = b"*12\r\n$5\r\ntotal\r\n:1000\r\n$9\r\navailable\r\n:10\r\n$8\r\nreserved\r\n:900\r\n\
                      $4\r\nsold\r\n:90\r\n$5\r\nlimit\r\n:0\r\n$4\r\nhold\r\n:3600\r\n";
        assert_eq!(
            StockLevels::parse(reply),
            Ok(StockLevels {
                available: 10,
                reserved: 900,
                sold: 90,
                limit: 0,
                hold: 3600,
                total: 1000
            })
        );
    }

    #[test]
    fn parses_string_values_and_negatives() {
        let reply = b"*12\r\n+available\r\n$2\r\n-1\r\n+reserved\r\n$1\r\n1\r\n+sold\r\n$1\r\n0\r\n\
                      +limit\r\n$1\r\n2\r\n+hold\r\n$3\r\n900\r\n+total\r\n$1\r\n0\r\n";
        let levels = StockLevels::parse(reply).unwrap();
        assert_eq!((levels.available, levels.reserved, levels.limit), (-1, 1, 2));
    }

    #[test]
    fn refuses_errors_and_incomplete_replies() {
        assert_eq!(
            StockLevels::parse(b"-NOSKU no such sku\r\n"),
            Err("NOSKU no such sku".into())
        );
        assert!(StockLevels::parse(b"*2\r\n$5\r\ntotal\r\n:1\r\n").is_err());
        assert!(StockLevels::parse(b"*1\r\n:1\r\n").is_err());
        assert!(StockLevels::parse(b"*2\r\n$5\r\ntotal\r\n$1\r\nx\r\n").is_err());
    }
}
