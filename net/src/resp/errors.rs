//! Error replies, worded exactly as Redis 7 words them, so clients that match on the text
//! (and our differential tests against redis-server) see no difference.

use super::reply::Reply;

pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const DB_INDEX_OUT_OF_RANGE: &str = "ERR DB index is out of range";
pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
pub const EXPIRE_NX_XX_GT_LT: &str = "ERR NX and XX, GT or LT options at the same time are not compatible";
pub const EXPIRE_GT_LT: &str = "ERR GT and LT options at the same time are not compatible";
/// The answer when a bounded queue in front of a shard is full: retry later.
pub const BUSY: &str = "BUSY shard queue full, retry later";
pub const SHUTTING_DOWN: &str = "ERR server is shutting down";

// Flash-sale refusals: the first word is the code clients match on (docs/seckill.md).
pub const SOLDOUT: &str = "SOLDOUT sold out";
pub const LIMIT: &str = "LIMIT per-user limit reached";
pub const NOSKU: &str = "NOSKU no such sku";
pub const NOORDER: &str = "NOORDER no such order";
pub const EXPIRED: &str = "EXPIRED order expired";
pub const CANCELLED: &str = "CANCELLED order cancelled";
pub const PAID: &str = "PAID order already paid";
pub const REQID_MISMATCH: &str = "ERR REQID was used for a different QTY";
pub const BELOW_ZERO: &str = "ERR stock would go below zero";
pub const SKUS_FULL: &str = "ERR sku table full";
pub const ORDERS_FULL: &str = "ERR order table full";
pub const ARCHIVED: &str = "ARCHIVED order archived; read it from the order store";
pub const LOG_FAILED: &str = "ERR seckill log write failed; writes refused until restart";

/// Longest quoted piece of user input Redis puts in an error.
const QUOTE_BYTES_MAX: usize = 128;

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' `.
pub fn unknown_command(args: &[bytes::Bytes]) -> Reply {
    let mut quoted = String::new();
    for arg in &args[1..] {
        if quoted.len() >= QUOTE_BYTES_MAX {
            break;
        }
        let room = QUOTE_BYTES_MAX - quoted.len();
        quoted.push('\'');
        quoted.push_str(&lossy_prefix(arg, room));
        quoted.push_str("' ");
    }
    Reply::error(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        lossy_prefix(&args[0], QUOTE_BYTES_MAX),
        quoted
    ))
}

/// `ERR unknown subcommand 'x'. Try CLIENT HELP.`
pub fn unknown_subcommand(command: &[u8], sub: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        lossy_prefix(sub, QUOTE_BYTES_MAX),
        String::from_utf8_lossy(command).to_ascii_uppercase()
    ))
}

/// `ERR wrong number of arguments for 'get' command`; `full_name` is lower case and names a
/// subcommand as `client|setname`.
pub fn wrong_arity(full_name: &str) -> Reply {
    Reply::error(format!("ERR wrong number of arguments for '{full_name}' command"))
}

/// `ERR invalid expire time in 'set' command`.
pub fn invalid_expire(command: &str) -> Reply {
    Reply::error(format!("ERR invalid expire time in '{command}' command"))
}

fn lossy_prefix(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
}
