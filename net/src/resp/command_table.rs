//! The commands shardhub speaks over RESP: names, arities, key positions and the short docs
//! that `COMMAND`, `COMMAND DOCS` and redis-cli's hints read.
//!
//! Arity follows Redis: a positive number is the exact argument count (the name included),
//! a negative one the minimum.

/// Which command a request names, for dispatch without comparing strings twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandId {
    Ping,
    Echo,
    Hello,
    Info,
    Command,
    Client,
    Config,
    Select,
    Quit,
    Dbsize,
    Get,
    Set,
    Del,
    Exists,
    Incr,
    Incrby,
    Decr,
    Decrby,
    Mget,
    Mset,
    Expire,
    Pexpire,
    Ttl,
    Pttl,
    Cluster,
    Mesh,
    StockSet,
    StockAdd,
    StockGet,
    SeckillBuy,
    OrderPay,
    OrderCancel,
    OrderGet,
    OrderPayment,
}

/// A subcommand of a container command such as CLIENT.
#[derive(Debug)]
pub struct SubcommandSpec {
    pub name: &'static str,
    pub arity: i32,
    pub summary: &'static str,
}

#[derive(Debug)]
pub struct CommandSpec {
    pub id: CommandId,
    /// Lower case, as Redis reports names.
    pub name: &'static str,
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub subcommands: &'static [SubcommandSpec],
}

impl CommandSpec {
    /// Finds a command by name, ignoring ASCII case.
    pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
        COMMANDS.iter().find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
    }

    pub fn subcommand(&self, name: &[u8]) -> Option<&'static SubcommandSpec> {
        self.subcommands
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
    }

    pub fn arity_ok(arity: i32, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}

macro_rules! cmd {
    ($id:ident, $name:literal, $arity:literal, [$($flag:literal),*], $fk:literal, $lk:literal, $st:literal,
     $group:literal, $since:literal, $summary:literal $(, [$($sub:expr),* $(,)?])?) => {
        CommandSpec {
            id: CommandId::$id,
            name: $name,
            arity: $arity,
            flags: &[$($flag),*],
            first_key: $fk,
            last_key: $lk,
            step: $st,
            group: $group,
            summary: $summary,
            since: $since,
            subcommands: &[$($($sub),*)?],
        }
    };
}

const fn sub(name: &'static str, arity: i32, summary: &'static str) -> SubcommandSpec {
    SubcommandSpec { name, arity, summary }
}

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        Ping,
        "ping",
        -1,
        ["fast"],
        0,
        0,
        0,
        "connection",
        "1.0.0",
        "Returns the server's liveliness response."
    ),
    cmd!(
        Echo,
        "echo",
        2,
        ["fast"],
        0,
        0,
        0,
        "connection",
        "1.0.0",
        "Returns the given string."
    ),
    cmd!(
        Hello,
        "hello",
        -1,
        ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        0,
        0,
        0,
        "connection",
        "6.0.0",
        "Handshakes with the server and switches the protocol version."
    ),
    cmd!(
        Info,
        "info",
        -1,
        ["loading", "stale"],
        0,
        0,
        0,
        "server",
        "1.0.0",
        "Returns information and statistics about the server."
    ),
    cmd!(
        Command,
        "command",
        -1,
        ["loading", "stale"],
        0,
        0,
        0,
        "server",
        "2.8.13",
        "Returns detailed information about all commands.",
        [
            sub("count", 2, "Returns a count of commands."),
            sub(
                "docs",
                -2,
                "Returns documentary information about one, multiple or all commands."
            ),
            sub("info", -2, "Returns information about one, multiple or all commands."),
            sub("list", -2, "Returns a list of command names."),
            sub("help", 2, "Returns helpful text about the different subcommands."),
        ]
    ),
    cmd!(
        Client,
        "client",
        -2,
        [],
        0,
        0,
        0,
        "connection",
        "2.4.0",
        "A container for client connection commands.",
        [
            sub("id", 2, "Returns the unique client ID of the connection."),
            sub("setname", 3, "Sets the connection name."),
            sub("getname", 2, "Returns the name of the connection."),
            sub("list", -2, "Lists open connections."),
            sub("info", 2, "Returns information about the connection."),
            sub("help", 2, "Returns helpful text about the different subcommands."),
        ]
    ),
    cmd!(
        Config,
        "config",
        -2,
        [],
        0,
        0,
        0,
        "server",
        "2.0.0",
        "A container for server configuration commands.",
        [
            sub("get", -3, "Returns the effective values of configuration parameters."),
            sub("help", 2, "Returns helpful text about the different subcommands."),
        ]
    ),
    cmd!(
        Select,
        "select",
        2,
        ["loading", "stale", "fast"],
        0,
        0,
        0,
        "connection",
        "1.0.0",
        "Changes the selected database (only 0 exists)."
    ),
    cmd!(
        Quit,
        "quit",
        -1,
        ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        0,
        0,
        0,
        "connection",
        "1.0.0",
        "Closes the connection."
    ),
    cmd!(
        Dbsize,
        "dbsize",
        1,
        ["readonly", "fast"],
        0,
        0,
        0,
        "server",
        "1.0.0",
        "Returns the number of keys in the database."
    ),
    cmd!(
        Get,
        "get",
        2,
        ["readonly", "fast"],
        1,
        1,
        1,
        "string",
        "1.0.0",
        "Returns the string value of a key."
    ),
    cmd!(
        Set,
        "set",
        -3,
        ["write", "denyoom"],
        1,
        1,
        1,
        "string",
        "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."
    ),
    cmd!(
        Del,
        "del",
        -2,
        ["write"],
        1,
        -1,
        1,
        "generic",
        "1.0.0",
        "Deletes one or more keys."
    ),
    cmd!(
        Exists,
        "exists",
        -2,
        ["readonly", "fast"],
        1,
        -1,
        1,
        "generic",
        "1.0.0",
        "Determines whether one or more keys exist."
    ),
    cmd!(
        Incr,
        "incr",
        2,
        ["write", "denyoom", "fast"],
        1,
        1,
        1,
        "string",
        "1.0.0",
        "Increments the integer value of a key by one."
    ),
    cmd!(
        Incrby,
        "incrby",
        3,
        ["write", "denyoom", "fast"],
        1,
        1,
        1,
        "string",
        "1.0.0",
        "Increments the integer value of a key by a number."
    ),
    cmd!(
        Decr,
        "decr",
        2,
        ["write", "denyoom", "fast"],
        1,
        1,
        1,
        "string",
        "1.0.0",
        "Decrements the integer value of a key by one."
    ),
    cmd!(
        Decrby,
        "decrby",
        3,
        ["write", "denyoom", "fast"],
        1,
        1,
        1,
        "string",
        "1.0.0",
        "Decrements a number from the integer value of a key."
    ),
    cmd!(
        Mget,
        "mget",
        -2,
        ["readonly", "fast"],
        1,
        -1,
        1,
        "string",
        "1.0.0",
        "Atomically returns the string values of one or more keys."
    ),
    cmd!(
        Mset,
        "mset",
        -3,
        ["write", "denyoom"],
        1,
        -1,
        2,
        "string",
        "1.0.1",
        "Sets the string values of one or more keys (atomic per shard)."
    ),
    cmd!(
        Expire,
        "expire",
        -3,
        ["write", "fast"],
        1,
        1,
        1,
        "generic",
        "1.0.0",
        "Sets the expiration time of a key in seconds."
    ),
    cmd!(
        Pexpire,
        "pexpire",
        -3,
        ["write", "fast"],
        1,
        1,
        1,
        "generic",
        "2.6.0",
        "Sets the expiration time of a key in milliseconds."
    ),
    cmd!(
        Ttl,
        "ttl",
        2,
        ["readonly", "fast"],
        1,
        1,
        1,
        "generic",
        "1.0.0",
        "Returns the expiration time in seconds of a key."
    ),
    cmd!(
        Pttl,
        "pttl",
        2,
        ["readonly", "fast"],
        1,
        1,
        1,
        "generic",
        "2.6.0",
        "Returns the expiration time in milliseconds of a key."
    ),
    cmd!(
        Cluster,
        "cluster",
        -2,
        [],
        0,
        0,
        0,
        "cluster",
        "3.0.0",
        "A container for Redis Cluster commands.",
        [
            sub("keyslot", 3, "Returns the hash slot for a key."),
            sub("help", 2, "Returns helpful text about the different subcommands."),
        ]
    ),
    cmd!(
        Mesh,
        "mesh",
        -2,
        ["fast"],
        0,
        0,
        0,
        "server",
        "0.1.0",
        "shardhub: measures the cross-shard mesh.",
        [
            sub(
                "ping",
                3,
                "Makes one round trip to a shard; returns its duration in nanoseconds."
            ),
            sub("help", 2, "Returns helpful text about the different subcommands."),
        ]
    ),    cmd!(
        StockSet,
        "stock.set",
        -3,
        ["write"],
        1,
        1,
        1,
        "seckill",
        "0.1.0",
        "Creates a SKU or starts a new sale of it: available = total, with an optional per-user LIMIT and reservation HOLD."
    ),
    cmd!(
        StockAdd,
        "stock.add",
        3,
        ["write"],
        1,
        1,
        1,
        "seckill",
        "0.1.0",
        "Restocks (or withdraws) available units of a SKU; returns the new available count."
    ),
    cmd!(
        StockGet,
        "stock.get",
        2,
        ["readonly", "fast"],
        1,
        1,
        1,
        "seckill",
        "0.1.0",
        "Returns a SKU's available, reserved, sold, limit, hold and total."
    ),
    cmd!(
        SeckillBuy,
        "seckill.buy",
        -3,
        ["write", "fast"],
        1,
        1,
        1,
        "seckill",
        "0.1.0",
        "Reserves QTY units of a SKU for a user; returns the order id. REQID makes retries idempotent."
    ),
    cmd!(
        OrderPay,
        "order.pay",
        2,
        ["write", "fast"],
        0,
        0,
        0,
        "seckill",
        "0.1.0",
        "Pays a reserved order: its units become sold."
    ),
    cmd!(
        OrderCancel,
        "order.cancel",
        2,
        ["write", "fast"],
        0,
        0,
        0,
        "seckill",
        "0.1.0",
        "Cancels a reserved order: its units return to available."
    ),
    cmd!(
        OrderGet,
        "order.get",
        2,
        ["readonly", "fast"],
        0,
        0,
        0,
        "seckill",
        "0.1.0",
        "Returns an order's sku, user, qty, state and times."
    ),
    cmd!(
        OrderPayment,
        "order.payment",
        5,
        ["write", "fast"],
        0,
        0,
        0,
        "seckill",
        "0.1.0",
        "Applies a payment event (order id, payment id, succeeded or failed, amount): pays, cancels, or logs a refund or an unmatched payment; a payment id seen before changes nothing."
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_names_are_unique() {
        assert_eq!(CommandSpec::lookup(b"GeT").unwrap().id, CommandId::Get);
        assert!(CommandSpec::lookup(b"nope").is_none());
        let mut names: Vec<_> = COMMANDS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len());
    }

    #[test]
    fn arity_rules() {
        assert!(CommandSpec::arity_ok(2, 2));
        assert!(!CommandSpec::arity_ok(2, 3));
        assert!(CommandSpec::arity_ok(-3, 5));
        assert!(!CommandSpec::arity_ok(-3, 2));
    }
}
