//! The flash-sale commands of docs/seckill.md (STOCK.*, SECKILL.BUY, ORDER.*) through real
//! clients: every reply and error line, in RESP2 and RESP3, per-user limits, REQID idempotency,
//! payment and cancellation, expiry, routing across shards, the sold-out hint, and what a
//! restart keeps.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{key_on_shard, order_get, stock_get, write_config, Order, RawConn, Server, Stock};

const SOLDOUT: &str = "-SOLDOUT sold out\r\n";
const LIMIT: &str = "-LIMIT per-user limit reached\r\n";
const NOSKU: &str = "-NOSKU no such sku\r\n";
const NOORDER: &str = "-NOORDER no such order\r\n";
const EXPIRED: &str = "-EXPIRED order expired\r\n";
const CANCELLED: &str = "-CANCELLED order cancelled\r\n";
const PAID: &str = "-PAID order already paid\r\n";
const OK: &str = "+OK\r\n";
/// `max_qty` in `CONFIG`.
const BAD_QTY: &str = "-ERR QTY must be a positive integer no greater than 5\r\n";
const REQID_QTY: &str = "-ERR REQID was used for a different QTY\r\n";
const BELOW_ZERO: &str = "-ERR stock would go below zero\r\n";
const NOT_INTEGER: &str = "-ERR value is not an integer or out of range\r\n";
const SYNTAX: &str = "-ERR syntax error\r\n";

/// Small bounds so that the limits are easy to cross.
const CONFIG: &str = "[seckill]\nmax_qty = 5\nmax_id_bytes = 16\n";

/// A server with `CONFIG` (plus `extra` config lines); the directory holds the config file.
fn start(shards: usize, extra: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(&dir, extra);
    (Server::start_with(shards, Some(&path), &[]), dir)
}

fn config_file(dir: &tempfile::TempDir, extra: &str) -> PathBuf {
    let path = dir.path().join("shardhub.toml");
    write_config(&path, &format!("{CONFIG}{extra}"));
    path
}

fn arity(command: &str) -> String {
    format!("-ERR wrong number of arguments for '{command}' command\r\n")
}

/// The text of a bulk string reply.
fn bulk(reply: &str) -> String {
    assert!(reply.starts_with('$'), "expected a bulk string, got {reply:?}");
    let (len, rest) = reply[1..].split_once("\r\n").unwrap();
    let text = rest.strip_suffix("\r\n").unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), text.len(), "{reply:?}");
    text.to_string()
}

/// SECKILL.BUY that must succeed: checks the order id's shape and returns it.
fn buy(c: &mut RawConn, args: &[&str]) -> String {
    let mut full = vec!["SECKILL.BUY"];
    full.extend_from_slice(args);
    let id = bulk(&c.call(&full));
    let (slot, seq) = id.split_once('-').unwrap_or_else(|| panic!("order id {id:?}"));
    assert!(slot.parse::<u16>().unwrap() < 16384, "{id}");
    seq.parse::<u64>().unwrap_or_else(|_| panic!("order id {id:?}"));
    id
}

fn stock(c: &mut RawConn, sku: &str) -> Stock {
    // RESP2: a flat array of six field/value pairs.
    let reply = c.call(&["STOCK.GET", sku]);
    assert!(reply.starts_with("*12\r\n"), "{reply:?}");
    let mut client = redis_from_raw(c);
    stock_get(&mut client, sku)
}

fn order(c: &mut RawConn, id: &str) -> Order {
    let reply = c.call(&["ORDER.GET", id]);
    assert!(reply.starts_with("*14\r\n"), "{reply:?}");
    let mut client = redis_from_raw(c);
    order_get(&mut client, id)
}

/// A `redis` crate connection to the same server as `c` (RESP2).
fn redis_from_raw(c: &RawConn) -> redis::Connection {
    let port = c.stream.peer_addr().unwrap().port();
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

fn stock_of(available: i64, reserved: i64, sold: i64, limit: i64, hold: i64, total: i64) -> Stock {
    Stock {
        available,
        reserved,
        sold,
        limit,
        hold,
        total,
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The shard that accepted this connection.
fn shard_of(c: &mut RawConn) -> usize {
    let line = c.call(&["CLIENT", "INFO"]);
    line.split("shard=").nth(1).unwrap().trim().parse().unwrap()
}

/// One connection accepted by each shard.
fn conn_per_shard(server: &Server, shards: usize) -> Vec<RawConn> {
    let mut found: Vec<Option<RawConn>> = (0..shards).map(|_| None).collect();
    for _ in 0..200 {
        let mut c = server.raw();
        let s = shard_of(&mut c);
        if found[s].is_none() {
            found[s] = Some(c);
        }
        if found.iter().all(Option::is_some) {
            return found.into_iter().map(Option::unwrap).collect();
        }
    }
    panic!("connections did not land on every shard");
}

#[test]
fn stock_set_add_get_and_their_errors() {
    let (server, _dir) = start(1, "");
    let mut c = server.raw();
    assert_eq!(c.call(&["STOCK.GET", "phone"]), NOSKU);
    assert_eq!(c.call(&["STOCK.ADD", "phone", "5"]), NOSKU);
    assert_eq!(c.call(&["SECKILL.BUY", "phone", "alice"]), NOSKU);

    assert_eq!(c.call(&["STOCK.SET", "phone", "10"]), OK);
    // Without LIMIT there is no cap (limit 0); HOLD defaults to 900 s.
    assert_eq!(stock(&mut c, "phone"), stock_of(10, 0, 0, 0, 900, 10));
    assert_eq!(c.call(&["STOCK.SET", "tv", "3", "LIMIT", "2", "HOLD", "60"]), OK);
    assert_eq!(stock(&mut c, "tv"), stock_of(3, 0, 0, 2, 60, 3));
    // Options in either order, case-insensitive keywords.
    assert_eq!(c.call(&["STOCK.SET", "tv", "4", "hold", "30", "limit", "1"]), OK);
    assert_eq!(stock(&mut c, "tv"), stock_of(4, 0, 0, 1, 30, 4));

    // Restock and withdraw: the reply is the new available count; total follows.
    assert_eq!(c.call(&["STOCK.ADD", "phone", "5"]), ":15\r\n");
    assert_eq!(c.call(&["STOCK.ADD", "phone", "-3"]), ":12\r\n");
    assert_eq!(stock(&mut c, "phone"), stock_of(12, 0, 0, 0, 900, 12));
    buy(&mut c, &["phone", "alice", "QTY", "2"]);
    assert_eq!(c.call(&["STOCK.ADD", "phone", "-11"]), BELOW_ZERO);
    assert_eq!(c.call(&["STOCK.ADD", "phone", "-10"]), ":0\r\n");
    assert_eq!(stock(&mut c, "phone"), stock_of(0, 2, 0, 0, 900, 2));
    assert_eq!(c.call(&["STOCK.ADD", "phone", "-1"]), BELOW_ZERO);
    assert_eq!(c.call(&["STOCK.ADD", "phone", "4"]), ":4\r\n");
    let before = stock(&mut c, "phone");
    assert_eq!(before, stock_of(4, 2, 0, 0, 900, 6));

    // Bad input is refused and changes nothing.
    for (args, want) in [
        (&["STOCK.ADD", "phone", "abc"][..], NOT_INTEGER),
        (&["STOCK.ADD", "phone", "1.5"], NOT_INTEGER),
        (&["STOCK.ADD", "phone", "-5"], BELOW_ZERO),
        (&["STOCK.SET", "phone", "abc"], NOT_INTEGER),
        (&["STOCK.SET", "phone", "10", "LIMIT", "x"], NOT_INTEGER),
        (&["STOCK.SET", "phone", "10", "HOLD", "x"], NOT_INTEGER),
        (&["STOCK.SET", "phone", "10", "LIMIT"], SYNTAX),
        (&["STOCK.SET", "phone", "10", "HOLD"], SYNTAX),
        (&["STOCK.SET", "phone", "10", "COLOUR", "red"], SYNTAX),
        (&["STOCK.SET", "phone", "10", "5"], SYNTAX),
        (&["STOCK.SET", "phone"], &arity("stock.set")),
        (&["STOCK.SET"], &arity("stock.set")),
        (&["STOCK.ADD", "phone"], &arity("stock.add")),
        (&["STOCK.ADD", "phone", "1", "2"], &arity("stock.add")),
        (&["STOCK.GET"], &arity("stock.get")),
        (&["STOCK.GET", "phone", "tv"], &arity("stock.get")),
    ] {
        assert_eq!(c.call(args), want, "{args:?}");
    }
    // "A bad number": negative totals, LIMIT and HOLD below 1.
    for args in [
        &["STOCK.SET", "phone", "-1"][..],
        &["STOCK.SET", "phone", "10", "LIMIT", "0"],
        &["STOCK.SET", "phone", "10", "LIMIT", "-2"],
        &["STOCK.SET", "phone", "10", "HOLD", "0"],
        &["STOCK.SET", "phone", "10", "HOLD", "-5"],
    ] {
        let reply = c.call(args);
        assert!(reply.starts_with("-ERR "), "{args:?}: {reply:?}");
    }
    // SKU names are bounded by max_id_bytes (16): 16 bytes pass, 17 do not.
    let long = "s".repeat(17);
    let reply = c.call(&["STOCK.SET", &long, "10"]);
    assert!(
        reply.starts_with("-ERR ") && reply.ends_with(" is longer than 16 bytes\r\n"),
        "{reply:?}"
    );
    assert_eq!(c.call(&["STOCK.SET", &"s".repeat(16), "10"]), OK);
    assert_eq!(stock(&mut c, "phone"), before);
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
}

#[test]
fn buy_reserves_units_and_refuses_bad_input_without_side_effects() {
    let (server, _dir) = start(1, "");
    let mut c = server.raw();
    assert_eq!(c.call(&["STOCK.SET", "shoe", "10"]), OK);
    let t0 = now_ms();
    let a = buy(&mut c, &["shoe", "alice"]);
    let b = buy(&mut c, &["shoe", "bob", "QTY", "3"]);
    let t1 = now_ms();
    assert_ne!(a, b);
    assert_eq!(stock(&mut c, "shoe"), stock_of(6, 4, 0, 0, 900, 10));

    let oa = order(&mut c, &a);
    assert_eq!(
        (oa.sku.as_str(), oa.user.as_str(), oa.qty, oa.state.as_str()),
        ("shoe", "alice", 1, "reserved")
    );
    assert!(
        oa.created_ms >= t0 - 1000 && oa.created_ms <= t1 + 1000,
        "{oa:?} {t0} {t1}"
    );
    assert!(oa.updated_ms >= oa.created_ms, "{oa:?}");
    let hold_ms = oa.expires_ms - oa.created_ms;
    assert!(
        (900_000..901_000).contains(&hold_ms),
        "expires 900 s after creation: {oa:?}"
    );
    let ob = order(&mut c, &b);
    assert_eq!((ob.user.as_str(), ob.qty, ob.state.as_str()), ("bob", 3, "reserved"));
    assert_eq!(
        c.call(&["ORDER.GET", &a]),
        c.call(&["ORDER.GET", &a]),
        "reads change nothing"
    );

    let before = stock(&mut c, "shoe");
    // QTY is 1..=max_qty (5).
    for qty in ["0", "-1", "6", "100"] {
        assert_eq!(
            c.call(&["SECKILL.BUY", "shoe", "carol", "QTY", qty]),
            BAD_QTY,
            "QTY {qty}"
        );
    }
    for qty in ["abc", "1.5", ""] {
        let reply = c.call(&["SECKILL.BUY", "shoe", "carol", "QTY", qty]);
        assert!(reply == BAD_QTY || reply == NOT_INTEGER, "QTY {qty:?}: {reply:?}");
    }
    // Ids longer than max_id_bytes (16).
    let long = "u".repeat(17);
    for args in [
        &["SECKILL.BUY", "shoe", &long][..],
        &["SECKILL.BUY", "shoe", "carol", "REQID", &long],
    ] {
        let reply = c.call(args);
        assert!(
            reply.starts_with("-ERR ") && reply.ends_with(" is longer than 16 bytes\r\n"),
            "{args:?}: {reply:?}"
        );
    }
    for (args, want) in [
        (&["SECKILL.BUY", "shoe"][..], arity("seckill.buy")),
        (&["SECKILL.BUY"], arity("seckill.buy")),
        (&["SECKILL.BUY", "shoe", "carol", "QTY"], SYNTAX.to_string()),
        (&["SECKILL.BUY", "shoe", "carol", "REQID"], SYNTAX.to_string()),
        (&["SECKILL.BUY", "shoe", "carol", "COLOUR", "red"], SYNTAX.to_string()),
        (&["SECKILL.BUY", "shoe", "carol", "2"], SYNTAX.to_string()),
        (&["SECKILL.BUY", "boot", "carol"], NOSKU.to_string()),
    ] {
        assert_eq!(c.call(args), want, "{args:?}");
    }
    assert_eq!(stock(&mut c, "shoe"), before, "refused buys reserve nothing");
    // The connection still works, and so does the largest QTY, and a 16-byte user.
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    let big = buy(&mut c, &["shoe", &"u".repeat(16), "qty", "5"]);
    assert_eq!(order(&mut c, &big).qty, 5);
    assert_eq!(stock(&mut c, "shoe"), stock_of(1, 9, 0, 0, 900, 10));
    // More than is left: sold out, nothing reserved; what is left can still be bought.
    assert_eq!(c.call(&["SECKILL.BUY", "shoe", "dave", "QTY", "2"]), SOLDOUT);
    buy(&mut c, &["shoe", "dave"]);
    assert_eq!(c.call(&["SECKILL.BUY", "shoe", "erin"]), SOLDOUT);
    assert_eq!(stock(&mut c, "shoe"), stock_of(0, 10, 0, 0, 900, 10));
}

#[test]
fn per_user_limit_counts_reserved_and_sold_units() {
    let (server, _dir) = start(1, "");
    let mut c = server.raw();
    assert_eq!(c.call(&["STOCK.SET", "gpu", "100", "LIMIT", "3"]), OK);
    let first = buy(&mut c, &["gpu", "alice", "QTY", "2"]);
    assert_eq!(c.call(&["SECKILL.BUY", "gpu", "alice", "QTY", "2"]), LIMIT);
    let second = buy(&mut c, &["gpu", "alice"]);
    assert_eq!(c.call(&["SECKILL.BUY", "gpu", "alice"]), LIMIT);
    assert_eq!(c.call(&["SECKILL.BUY", "gpu", "alice", "QTY", "4"]), LIMIT);
    // Other users have their own allowance; a QTY above the limit never passes.
    buy(&mut c, &["gpu", "bob", "QTY", "3"]);
    assert_eq!(c.call(&["SECKILL.BUY", "gpu", "carol", "QTY", "4"]), LIMIT);
    assert_eq!(stock(&mut c, "gpu"), stock_of(94, 6, 0, 3, 900, 100));

    // Paid units still count; cancelled ones do not.
    assert_eq!(c.call(&["ORDER.PAY", &first]), OK);
    assert_eq!(c.call(&["SECKILL.BUY", "gpu", "alice"]), LIMIT);
    assert_eq!(c.call(&["ORDER.CANCEL", &second]), OK);
    let third = buy(&mut c, &["gpu", "alice"]);
    assert_eq!(c.call(&["SECKILL.BUY", "gpu", "alice"]), LIMIT);
    assert_eq!(stock(&mut c, "gpu"), stock_of(94, 4, 2, 3, 900, 100));
    assert_eq!(order(&mut c, &third).state, "reserved");

    // The limit is per SKU.
    assert_eq!(c.call(&["STOCK.SET", "cpu", "10", "LIMIT", "1"]), OK);
    buy(&mut c, &["cpu", "alice"]);
    assert_eq!(c.call(&["SECKILL.BUY", "cpu", "alice"]), LIMIT);
    assert_eq!(stock(&mut c, "cpu"), stock_of(9, 1, 0, 1, 900, 10));
}

#[test]
fn reqid_makes_a_buy_idempotent() {
    let (server, _dir) = start(1, "");
    let mut c = server.raw();
    assert_eq!(c.call(&["STOCK.SET", "bag", "10"]), OK);
    let id = buy(&mut c, &["bag", "alice", "REQID", "cart-1"]);
    assert_eq!(buy(&mut c, &["bag", "alice", "REQID", "cart-1"]), id);
    assert_eq!(buy(&mut c, &["bag", "alice", "QTY", "1", "REQID", "cart-1"]), id);
    assert_eq!(stock(&mut c, "bag"), stock_of(9, 1, 0, 0, 900, 10), "reserved once");
    assert_eq!(
        c.call(&["SECKILL.BUY", "bag", "alice", "QTY", "2", "REQID", "cart-1"]),
        REQID_QTY
    );
    // A REQID belongs to one user: another user's same REQID is another order.
    let bobs = buy(&mut c, &["bag", "bob", "REQID", "cart-1"]);
    assert_ne!(bobs, id);
    let twos = buy(&mut c, &["bag", "alice", "REQID", "cart-2", "QTY", "2"]);
    assert_eq!(buy(&mut c, &["bag", "alice", "QTY", "2", "REQID", "cart-2"]), twos);
    assert_eq!(c.call(&["SECKILL.BUY", "bag", "alice", "REQID", "cart-2"]), REQID_QTY);
    assert_eq!(stock(&mut c, "bag"), stock_of(6, 4, 0, 0, 900, 10));

    // Whatever happened to the order since, the retry answers the same id and reserves nothing.
    assert_eq!(c.call(&["ORDER.CANCEL", &id]), OK);
    assert_eq!(buy(&mut c, &["bag", "alice", "REQID", "cart-1"]), id);
    assert_eq!(order(&mut c, &id).state, "cancelled");
    assert_eq!(c.call(&["ORDER.PAY", &twos]), OK);
    assert_eq!(buy(&mut c, &["bag", "alice", "REQID", "cart-2", "QTY", "2"]), twos);
    assert_eq!(stock(&mut c, "bag"), stock_of(7, 1, 2, 0, 900, 10));

    // A refused buy is not remembered: its retry is judged afresh.
    assert_eq!(c.call(&["STOCK.SET", "hat", "1", "LIMIT", "1"]), OK);
    buy(&mut c, &["hat", "alice"]);
    assert_eq!(c.call(&["SECKILL.BUY", "hat", "bob", "REQID", "r"]), SOLDOUT);
    assert_eq!(c.call(&["STOCK.ADD", "hat", "1"]), ":1\r\n");
    let bob_hat = buy(&mut c, &["hat", "bob", "REQID", "r"]);
    assert_eq!(c.call(&["STOCK.ADD", "hat", "5"]), ":5\r\n");
    assert_eq!(c.call(&["SECKILL.BUY", "hat", "alice", "REQID", "again"]), LIMIT);
    assert_eq!(c.call(&["ORDER.CANCEL", &bob_hat]), OK);
    // The REQID now names a cancelled order: the retry still answers it.
    assert_eq!(buy(&mut c, &["hat", "bob", "REQID", "r"]), bob_hat);
    assert_eq!(stock(&mut c, "hat"), stock_of(6, 1, 0, 1, 900, 7));
}

#[test]
fn pay_and_cancel_move_orders_between_states() {
    let (server, _dir) = start(1, "");
    let mut c = server.raw();
    assert_eq!(c.call(&["STOCK.SET", "cam", "10"]), OK);
    let paid = buy(&mut c, &["cam", "alice", "QTY", "2"]);
    let cancelled = buy(&mut c, &["cam", "bob", "QTY", "3"]);
    assert_eq!(stock(&mut c, "cam"), stock_of(5, 5, 0, 0, 900, 10));

    let before = order(&mut c, &paid);
    assert_eq!(c.call(&["ORDER.PAY", &paid]), OK);
    let after = order(&mut c, &paid);
    assert_eq!(after.state, "paid");
    assert_eq!(
        (after.sku.as_str(), after.user.as_str(), after.qty),
        ("cam", "alice", 2)
    );
    assert_eq!(after.created_ms, before.created_ms);
    assert!(after.updated_ms >= before.updated_ms, "{before:?} {after:?}");
    assert_eq!(stock(&mut c, "cam"), stock_of(5, 3, 2, 0, 900, 10));
    // Paying again answers OK and sells nothing more.
    assert_eq!(c.call(&["ORDER.PAY", &paid]), OK);
    assert_eq!(stock(&mut c, "cam"), stock_of(5, 3, 2, 0, 900, 10));
    assert_eq!(c.call(&["ORDER.CANCEL", &paid]), PAID);
    assert_eq!(order(&mut c, &paid).state, "paid");

    // Cancelling returns the units at once; cancelling again is OK; paying is refused.
    assert_eq!(c.call(&["ORDER.CANCEL", &cancelled]), OK);
    assert_eq!(stock(&mut c, "cam"), stock_of(8, 0, 2, 0, 900, 10));
    assert_eq!(order(&mut c, &cancelled).state, "cancelled");
    assert_eq!(c.call(&["ORDER.CANCEL", &cancelled]), OK);
    assert_eq!(c.call(&["ORDER.PAY", &cancelled]), CANCELLED);
    assert_eq!(stock(&mut c, "cam"), stock_of(8, 0, 2, 0, 900, 10));
    // The returned units can be bought.
    assert_eq!(c.call(&["STOCK.ADD", "cam", "-5"]), ":3\r\n");
    buy(&mut c, &["cam", "carol", "QTY", "3"]);
    assert_eq!(c.call(&["SECKILL.BUY", "cam", "dave"]), SOLDOUT);
    assert_eq!(stock(&mut c, "cam"), stock_of(0, 3, 2, 0, 900, 5));
}

#[test]
fn unknown_and_malformed_order_ids_and_wrong_arity() {
    let (server, _dir) = start(1, "");
    let mut c = server.raw();
    assert_eq!(c.call(&["STOCK.SET", "pen", "5"]), OK);
    let id = buy(&mut c, &["pen", "alice"]);
    let (slot, seq) = id.split_once('-').unwrap();
    let unknown_seq = format!("{slot}-{}", seq.parse::<u64>().unwrap() + 1000);
    let other_slot = format!("{}-{seq}", (slot.parse::<u16>().unwrap() + 1) % 16384);
    let before = stock(&mut c, "pen");
    for bad in [
        unknown_seq.as_str(),
        other_slot.as_str(),
        "abc",
        "99999-1",
        "16384-1",
        "1-x",
        "-1",
        "1-",
        "-",
        "",
        "1--1",
        "1-1-1",
        " 1-1",
        "18446744073709551616-1",
        "1-18446744073709551616",
    ] {
        for command in ["ORDER.GET", "ORDER.PAY", "ORDER.CANCEL"] {
            assert_eq!(c.call(&[command, bad]), NOORDER, "{command} {bad:?}");
        }
    }
    for command in ["ORDER.GET", "ORDER.PAY", "ORDER.CANCEL"] {
        let lower = command.to_ascii_lowercase();
        assert_eq!(c.call(&[command]), arity(&lower));
        assert_eq!(c.call(&[command, &id, "extra"]), arity(&lower));
    }
    assert_eq!(stock(&mut c, "pen"), before);
    assert_eq!(order(&mut c, &id).state, "reserved");
    assert_eq!(c.call(&["ORDER.PAY", &id]), OK);
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
}

#[test]
fn stock_set_starts_a_new_sale_and_old_orders_keep_their_units() {
    let (server, _dir) = start(1, "");
    let mut c = server.raw();
    assert_eq!(c.call(&["STOCK.SET", "tix", "5", "LIMIT", "2"]), OK);
    let old_reserved = buy(&mut c, &["tix", "alice", "QTY", "2", "REQID", "r1"]);
    let old_paid = buy(&mut c, &["tix", "bob"]);
    let old_to_cancel = buy(&mut c, &["tix", "carol"]);
    assert_eq!(c.call(&["ORDER.PAY", &old_paid]), OK);
    assert_eq!(c.call(&["SECKILL.BUY", "tix", "alice"]), LIMIT);
    assert_eq!(stock(&mut c, "tix"), stock_of(1, 3, 1, 2, 900, 5));

    // A new sale: counters reset, holdings and REQIDs forgotten, new LIMIT/HOLD.
    assert_eq!(c.call(&["STOCK.SET", "tix", "4", "LIMIT", "1", "HOLD", "100"]), OK);
    assert_eq!(stock(&mut c, "tix"), stock_of(4, 0, 0, 1, 100, 4));
    let fresh = buy(&mut c, &["tix", "alice", "QTY", "1", "REQID", "r1"]);
    assert_ne!(fresh, old_reserved, "REQIDs of the earlier sale are forgotten");
    assert_eq!(c.call(&["SECKILL.BUY", "tix", "alice"]), LIMIT);
    assert_eq!(stock(&mut c, "tix"), stock_of(3, 1, 0, 1, 100, 4));

    // The earlier sale's orders can still be read, paid and cancelled, without touching the
    // new sale's counters.
    let o = order(&mut c, &old_reserved);
    assert_eq!((o.user.as_str(), o.qty, o.state.as_str()), ("alice", 2, "reserved"));
    assert_eq!(order(&mut c, &old_paid).state, "paid");
    assert_eq!(c.call(&["ORDER.PAY", &old_reserved]), OK);
    assert_eq!(order(&mut c, &old_reserved).state, "paid");
    assert_eq!(c.call(&["ORDER.CANCEL", &old_to_cancel]), OK);
    assert_eq!(order(&mut c, &old_to_cancel).state, "cancelled");
    assert_eq!(c.call(&["ORDER.CANCEL", &old_paid]), PAID);
    assert_eq!(stock(&mut c, "tix"), stock_of(3, 1, 0, 1, 100, 4));
    // Holdings from the earlier sale (bob's paid unit) do not count against the new LIMIT.
    buy(&mut c, &["tix", "bob"]);
    buy(&mut c, &["tix", "carol"]);
    assert_eq!(stock(&mut c, "tix"), stock_of(1, 3, 0, 1, 100, 4));
}

#[test]
fn replies_are_maps_in_resp3_and_flat_arrays_in_resp2() {
    let (server, _dir) = start(1, "");
    let mut raw = server.raw();
    assert_eq!(raw.call(&["STOCK.SET", "mug", "7", "LIMIT", "3", "HOLD", "45"]), OK);
    let id = buy(&mut raw, &["mug", "alice", "QTY", "2"]);

    // RESP2 through the crate: flat arrays of field/value pairs.
    let mut c2 = server.client();
    let v: redis::Value = redis::cmd("STOCK.GET").arg("mug").query(&mut c2).unwrap();
    assert!(matches!(&v, redis::Value::Array(items) if items.len() == 12), "{v:?}");
    assert_eq!(Stock::from_value(&v), stock_of(5, 2, 0, 3, 45, 7));
    let v: redis::Value = redis::cmd("ORDER.GET").arg(&id).query(&mut c2).unwrap();
    assert!(matches!(&v, redis::Value::Array(items) if items.len() == 14), "{v:?}");
    let o2 = Order::from_value(&v);
    assert_eq!(
        (o2.sku.as_str(), o2.user.as_str(), o2.qty, o2.state.as_str()),
        ("mug", "alice", 2, "reserved")
    );

    // RESP3 through the crate: maps with the same fields.
    let mut c3 = server.client_resp3();
    let v: redis::Value = redis::cmd("STOCK.GET").arg("mug").query(&mut c3).unwrap();
    assert!(matches!(&v, redis::Value::Map(pairs) if pairs.len() == 6), "{v:?}");
    assert_eq!(Stock::from_value(&v), stock_of(5, 2, 0, 3, 45, 7));
    let v: redis::Value = redis::cmd("ORDER.GET").arg(&id).query(&mut c3).unwrap();
    assert!(matches!(&v, redis::Value::Map(pairs) if pairs.len() == 7), "{v:?}");
    assert_eq!(Order::from_value(&v), o2);
    let id3: String = redis::cmd("SECKILL.BUY").arg("mug").arg("bob").query(&mut c3).unwrap();
    assert_eq!(order_get(&mut c3, &id3).user, "bob");
    let err = redis::cmd("SECKILL.BUY")
        .arg("mug")
        .arg("alice")
        .arg("QTY")
        .arg(2)
        .query::<String>(&mut c3)
        .unwrap_err();
    assert_eq!(
        (err.code(), err.detail()),
        (Some("LIMIT"), Some("per-user limit reached"))
    );
    let err = redis::cmd("STOCK.GET")
        .arg("nope")
        .query::<redis::Value>(&mut c3)
        .unwrap_err();
    assert_eq!((err.code(), err.detail()), (Some("NOSKU"), Some("no such sku")));

    // RESP3 on the wire: map headers, the same error lines, bulk order ids.
    let hello = raw.call(&["HELLO", "3"]);
    assert!(hello.starts_with('%'), "{hello}");
    let reply = raw.call(&["STOCK.GET", "mug"]);
    assert!(reply.starts_with("%6\r\n"), "{reply:?}");
    assert!(reply.contains("available\r\n"), "{reply:?}");
    let reply = raw.call(&["ORDER.GET", &id]);
    assert!(reply.starts_with("%7\r\n"), "{reply:?}");
    assert!(
        reply.contains("$8\r\nreserved\r\n") || reply.contains("+reserved\r\n"),
        "{reply:?}"
    );
    assert_eq!(raw.call(&["STOCK.GET", "nope"]), NOSKU);
    assert_eq!(raw.call(&["ORDER.GET", "1-x"]), NOORDER);
    assert_eq!(raw.call(&["SECKILL.BUY", "mug", "carol", "QTY", "0"]), BAD_QTY);
    let id4 = bulk(&raw.call(&["SECKILL.BUY", "mug", "carol"]));
    assert_eq!(raw.call(&["ORDER.PAY", &id4]), OK);
    assert_eq!(raw.call(&["ORDER.CANCEL", &id4]), PAID);
    assert_eq!(raw.call(&["STOCK.ADD", "mug", "1"]), ":4\r\n");
    // And back to RESP2 on the same connection.
    assert!(raw.call(&["HELLO", "2"]).starts_with('*'));
    assert!(raw.call(&["STOCK.GET", "mug"]).starts_with("*12\r\n"));
    assert!(raw.call(&["ORDER.GET", &id4]).starts_with("*14\r\n"));
}

#[test]
fn order_ids_route_to_the_owner_shard_from_any_connection() {
    let (server, _dir) = start(2, "");
    let sku0 = key_on_shard("sku-a", 0, 2);
    let sku1 = key_on_shard("sku-b", 1, 2);
    let tagged = format!("{{{sku1}}}:red");
    let mut conns = conn_per_shard(&server, 2);
    let mut ids = Vec::new();
    // From each accepting shard, buy SKUs owned by each shard.
    for (i, c) in conns.iter_mut().enumerate() {
        for sku in [&sku0, &sku1, &tagged] {
            assert_eq!(c.call(&["STOCK.SET", sku, "100"]), OK);
            let user = format!("user{i}");
            let id = buy(c, &[sku, &user, "QTY", "2"]);
            let slot: u16 = id.split_once('-').unwrap().0.parse().unwrap();
            let owner = usize::from(shardhub_core::key_hash_slot(sku.as_bytes())) * 2 / 16384;
            assert_eq!(usize::from(slot) * 2 / 16384, owner, "{id} names {sku}'s owner");
            ids.push((id, sku.clone(), user));
        }
    }
    // A hashtag keeps a SKU with its tag's owner.
    let tag_slot = shardhub_core::key_hash_slot(tagged.as_bytes());
    assert_eq!(tag_slot, shardhub_core::key_hash_slot(sku1.as_bytes()));
    let all: HashSet<&String> = ids.iter().map(|(id, _, _)| id).collect();
    assert_eq!(all.len(), ids.len(), "ids are unique across shards: {ids:?}");

    // Every id is found from every other connection, on either shard.
    let mut readers = conn_per_shard(&server, 2);
    for r in readers.iter_mut() {
        for (id, sku, user) in &ids {
            let o = order(r, id);
            assert_eq!((&o.sku, &o.user, o.qty, o.state.as_str()), (sku, user, 2, "reserved"));
        }
    }
    // Pay and cancel from the other shard than the one that bought.
    for (n, (id, _, _)) in ids.iter().enumerate() {
        let r = &mut readers[(n + 1) % 2];
        let want = if n % 2 == 0 { "ORDER.PAY" } else { "ORDER.CANCEL" };
        assert_eq!(r.call(&[want, id]), OK, "{want} {id}");
    }
    let mut client = server.client();
    for (n, (id, _, _)) in ids.iter().enumerate() {
        let state = order_get(&mut client, id).state;
        assert_eq!(state, if n % 2 == 0 { "paid" } else { "cancelled" }, "{id}");
    }
    for sku in [&sku0, &sku1, &tagged] {
        // The second STOCK.SET (from the other connection) started a new sale: only that
        // connection's order (2 units) belongs to it.
        let s = stock_get(&mut client, sku);
        assert!(s.balanced() && s.reserved == 0, "{sku}: {s:?}");
        assert_eq!(s.sold + s.available, 100, "{sku}: {s:?}");
    }
}

#[test]
fn sold_out_hint_refuses_on_every_shard_and_clears_when_stock_returns() {
    let (server, _dir) = start(2, "");
    let mut conns = conn_per_shard(&server, 2);
    for owner in 0..2 {
        let sku = key_on_shard(&format!("hot{owner}-"), owner, 2);
        let other = 1 - owner;
        assert_eq!(conns[owner].call(&["STOCK.SET", &sku, "3"]), OK);
        let big = buy(&mut conns[other], &[&sku, "alice", "QTY", "2"]);
        buy(&mut conns[owner], &[&sku, "bob"]);
        for _ in 0..3 {
            for c in conns.iter_mut() {
                assert_eq!(c.call(&["SECKILL.BUY", &sku, "carol"]), SOLDOUT, "{sku}");
            }
        }
        assert_eq!(stock(&mut conns[other], &sku), stock_of(0, 3, 0, 0, 900, 3));

        // A restock clears the hint: the non-owner's connection can buy again.
        assert_eq!(conns[owner].call(&["STOCK.ADD", &sku, "1"]), ":1\r\n");
        let id = buy_when_hint_clears(&mut conns[other], &sku, "dave");
        assert_eq!(order(&mut conns[owner], &id).user, "dave");
        for c in conns.iter_mut() {
            assert_eq!(c.call(&["SECKILL.BUY", &sku, "erin"]), SOLDOUT);
        }
        // So does a cancellation.
        assert_eq!(conns[other].call(&["ORDER.CANCEL", &big]), OK);
        buy_when_hint_clears(&mut conns[other], &sku, "frank");
        buy(&mut conns[owner], &[&sku, "grace"]);
        for c in conns.iter_mut() {
            assert_eq!(c.call(&["SECKILL.BUY", &sku, "heidi"]), SOLDOUT);
        }
        // And a new sale.
        assert_eq!(conns[owner].call(&["STOCK.SET", &sku, "1"]), OK);
        buy_when_hint_clears(&mut conns[other], &sku, "ivan");
        assert_eq!(conns[other].call(&["SECKILL.BUY", &sku, "judy"]), SOLDOUT);
        assert_eq!(stock(&mut conns[owner], &sku), stock_of(0, 1, 0, 0, 900, 1));
    }
}

/// `shardhub_seckill_buys_total{result="soldout"}` of `sku` as each shard counts it.
fn soldout_counts(server: &Server, sku: &str) -> [f64; 2] {
    let (status, text) = server.http_get("/metrics");
    assert_eq!(status, 200);
    [0, 1].map(|shard| {
        common::metric_sum(
            &text,
            "shardhub_seckill_buys_total",
            &[
                &format!("shard=\"{shard}\""),
                &format!("sku=\"{sku}\""),
                "result=\"soldout\"",
            ],
        )
    })
}

#[test]
fn the_sold_out_hint_answers_on_the_accepting_shard_without_the_owner() {
    // "a BUY for it is then refused with -SOLDOUT by the shard that accepted the connection,
    // with no message to the owner": the refusals are counted by the accepting shard.
    let (server, _dir) = start(2, "");
    let mut conns = conn_per_shard(&server, 2);
    let sku = key_on_shard("hinted", 1, 2);
    assert_eq!(conns[1].call(&["STOCK.SET", &sku, "1"]), OK);
    buy(&mut conns[1], &[&sku, "alice"]);
    // Wait for the hint to reach shard 0: its first local refusal.
    let deadline = Instant::now() + Duration::from_secs(5);
    while soldout_counts(&server, &sku)[0] == 0.0 {
        assert!(Instant::now() < deadline, "shard 0 never refused {sku} itself");
        assert_eq!(conns[0].call(&["SECKILL.BUY", &sku, "bob"]), SOLDOUT);
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = soldout_counts(&server, &sku);
    for _ in 0..5 {
        assert_eq!(conns[0].call(&["SECKILL.BUY", &sku, "bob"]), SOLDOUT);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let now = soldout_counts(&server, &sku);
        if now[0] >= before[0] + 5.0 || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        after[0],
        before[0] + 5.0,
        "shard 0 refused them: {before:?} -> {after:?}"
    );
    assert_eq!(after[1], before[1], "the owner never saw them: {before:?} -> {after:?}");
    // The owner's own refusals are counted by the owner.
    assert_eq!(conns[1].call(&["SECKILL.BUY", &sku, "carol"]), SOLDOUT);
    let deadline = Instant::now() + Duration::from_secs(5);
    while soldout_counts(&server, &sku)[1] < after[1] + 1.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(soldout_counts(&server, &sku), [after[0], after[1] + 1.0]);
}

#[test]
fn reqid_retry_answers_its_order_even_after_the_sku_sold_out() {
    // "the same SKU, user and REQID answer the same order id again, whatever happened to the
    // order since": a client whose reply was lost retries on any connection, also once the
    // SKU is sold out and the sold-out hint is up on the shard that accepted it.
    let (server, _dir) = start(2, "");
    let mut conns = conn_per_shard(&server, 2);
    for owner in 0..2 {
        let sku = key_on_shard(&format!("last{owner}-"), owner, 2);
        let other = 1 - owner;
        assert_eq!(conns[owner].call(&["STOCK.SET", &sku, "2"]), OK);
        let mine = buy(&mut conns[other], &[&sku, "alice", "REQID", "cart"]);
        buy(&mut conns[owner], &[&sku, "bob"]);
        for c in conns.iter_mut() {
            assert_eq!(c.call(&["SECKILL.BUY", &sku, "carol"]), SOLDOUT);
        }
        for c in conns.iter_mut() {
            assert_eq!(buy(c, &[&sku, "alice", "REQID", "cart"]), mine, "{sku}");
        }
        assert_eq!(stock(&mut conns[owner], &sku), stock_of(0, 2, 0, 0, 900, 2));
    }
}

/// Buys from a connection whose shard may still hold a sold-out hint the owner has just
/// cleared: the clearing message is asynchronous, so retry `-SOLDOUT` for a while.
fn buy_when_hint_clears(c: &mut RawConn, sku: &str, user: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = c.call(&["SECKILL.BUY", sku, user]);
        if reply.starts_with('$') {
            return bulk(&reply);
        }
        assert_eq!(reply, SOLDOUT);
        assert!(Instant::now() < deadline, "the sold-out hint for {sku} never cleared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls ORDER.GET until the order leaves `reserved` (at most 10 s).
fn wait_not_reserved(c: &mut RawConn, id: &str) -> Order {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = order(c, id);
        if o.state != "reserved" {
            return o;
        }
        assert!(Instant::now() < deadline, "{id} never expired: {o:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn unpaid_reservations_expire_and_return_their_units() {
    let (server, _dir) = start(2, "");
    let mut c = server.raw();
    let sku = key_on_shard("flash", 1, 2);
    assert_eq!(c.call(&["STOCK.SET", &sku, "5", "LIMIT", "2", "HOLD", "1"]), OK);
    let late = buy(&mut c, &[&sku, "alice", "QTY", "2"]);
    let paid = buy(&mut c, &[&sku, "bob"]);
    assert_eq!(c.call(&["ORDER.PAY", &paid]), OK);
    assert_eq!(c.call(&["SECKILL.BUY", &sku, "alice"]), LIMIT);
    assert_eq!(stock(&mut c, &sku), stock_of(2, 2, 1, 2, 1, 5));
    std::thread::sleep(Duration::from_millis(2500));

    let o = wait_not_reserved(&mut c, &late);
    assert_eq!(o.state, "expired", "{o:?}");
    let hold = o.expires_ms - o.created_ms;
    assert!((1000..2000).contains(&hold), "HOLD 1 s: {o:?}");
    assert!(o.updated_ms >= o.expires_ms, "{o:?}");
    assert!(
        o.updated_ms - o.expires_ms < 1000,
        "the expiry landed within a tick (100 ms) of its deadline, not a second later: {o:?}"
    );
    assert_eq!(stock(&mut c, &sku), stock_of(4, 0, 1, 2, 1, 5));
    assert_eq!(c.call(&["ORDER.PAY", &late]), EXPIRED);
    assert_eq!(c.call(&["ORDER.CANCEL", &late]), EXPIRED);
    assert_eq!(order(&mut c, &paid).state, "paid", "paid orders do not expire");
    // The expired units no longer count against alice.
    buy(&mut c, &[&sku, "alice", "QTY", "2"]);
    assert_eq!(stock(&mut c, &sku), stock_of(2, 2, 1, 2, 1, 5));

    // A sold-out SKU comes back when its reservations expire; the hint clears on every shard.
    let mut conns = conn_per_shard(&server, 2);
    assert_eq!(c.call(&["STOCK.SET", &sku, "1", "HOLD", "1"]), OK);
    buy(&mut c, &[&sku, "carol"]);
    for c in conns.iter_mut() {
        assert_eq!(c.call(&["SECKILL.BUY", &sku, "dave"]), SOLDOUT);
    }
    std::thread::sleep(Duration::from_millis(1500));
    buy_when_hint_clears(&mut conns[0], &sku, "dave");
    // alice's units of the earlier sale expired too, but never flowed into this one.
    let s = stock(&mut c, &sku);
    assert!(s.balanced() && s.total == 1 && s.sold == 0, "{s:?}");
}

#[test]
fn paying_after_the_deadline_is_expired_even_before_the_expiry_pass() {
    // The expiry pass runs every 30 s: long after the deadline this test pays at.
    let (server, _dir) = start(1, "expiry_tick_ms = 30000\n");
    let mut c = server.raw();
    assert_eq!(c.call(&["STOCK.SET", "late", "5", "HOLD", "1"]), OK);
    let id = buy(&mut c, &["late", "alice"]);
    let in_time = buy(&mut c, &["late", "bob"]);
    assert_eq!(c.call(&["ORDER.PAY", &in_time]), OK);
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(c.call(&["ORDER.PAY", &id]), EXPIRED);
    assert_eq!(c.call(&["ORDER.PAY", &id]), EXPIRED);
    assert_ne!(order(&mut c, &id).state, "paid");
    let s = stock(&mut c, "late");
    assert!(s.balanced() && s.sold == 1, "{s:?}");
    assert_eq!(c.call(&["ORDER.PAY", &in_time]), OK);
}

#[test]
fn a_restart_keeps_skus_orders_holdings_reqids_and_pending_expiries() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = config_file(&cfg_dir, "durability = \"sync\"\n");
    let server = Server::start_in(2, tempfile::tempdir().unwrap(), Some(&config), &[]);
    let mut c = server.raw();
    let fleeting = key_on_shard("fleeting", 0, 2);
    let lasting = key_on_shard("lasting", 1, 2);
    let brief = key_on_shard("brief", 1, 2);
    assert_eq!(c.call(&["STOCK.SET", &fleeting, "10", "LIMIT", "2", "HOLD", "4"]), OK);
    assert_eq!(c.call(&["STOCK.SET", &lasting, "10", "LIMIT", "2"]), OK);
    assert_eq!(c.call(&["STOCK.SET", &brief, "3", "HOLD", "1"]), OK);
    let lapsed = buy(&mut c, &[&brief, "alice"]);
    let expiring = buy(&mut c, &[&fleeting, "alice", "QTY", "2", "REQID", "r1"]);
    let paid = buy(&mut c, &[&fleeting, "bob", "REQID", "r2"]);
    assert_eq!(c.call(&["ORDER.PAY", &paid]), OK);
    let cancelled = buy(&mut c, &[&fleeting, "carol"]);
    assert_eq!(c.call(&["ORDER.CANCEL", &cancelled]), OK);
    let held = buy(&mut c, &[&lasting, "alice", "QTY", "2", "REQID", "r3"]);
    let sold = buy(&mut c, &[&lasting, "bob"]);
    assert_eq!(c.call(&["ORDER.PAY", &sold]), OK);
    assert_eq!(c.call(&["STOCK.ADD", &lasting, "5"]), ":12\r\n");
    assert_eq!(c.call(&["SECKILL.BUY", &lasting, "alice"]), LIMIT);
    let fleeting_before = stock(&mut c, &fleeting);
    let lasting_before = stock(&mut c, &lasting);
    assert_eq!(fleeting_before, stock_of(7, 2, 1, 2, 4, 10));
    assert_eq!(lasting_before, stock_of(12, 2, 1, 2, 900, 15));
    let ids = [&expiring, &paid, &cancelled, &held, &sold];
    let orders_before: Vec<Order> = ids.iter().map(|id| order(&mut c, id)).collect();
    let lapsed_before = order(&mut c, &lapsed);
    drop(c);

    let (status, data) = server.stop(libc::SIGTERM);
    assert!(status.success(), "graceful stop: {status:?}");
    // `lapsed`'s deadline passes while the server is down.
    let wait = lapsed_before.expires_ms + 200 - now_ms();
    std::thread::sleep(Duration::from_millis(wait.max(0) as u64));
    let restarted_ms = now_ms();
    let server = Server::start_in(2, data, Some(&config), &[]);
    let mut c = server.raw();

    // A deadline that passed while the server was down expires in the first tick after start.
    let o = wait_not_reserved(&mut c, &lapsed);
    assert_eq!(o.state, "expired", "{o:?}");
    assert_eq!(
        (o.created_ms, o.expires_ms),
        (lapsed_before.created_ms, lapsed_before.expires_ms)
    );
    assert!(o.updated_ms >= restarted_ms - 1000, "expired after the restart: {o:?}");
    assert_eq!(stock(&mut c, &brief), stock_of(3, 0, 0, 0, 1, 3));

    // A pending deadline is re-armed: the order is still reserved, then expires on time and
    // returns its units.
    let o = order(&mut c, &expiring);
    if now_ms() + 500 < o.expires_ms {
        assert_eq!(o.state, "reserved", "{o:?}");
    }
    assert_eq!(
        (o.created_ms, o.expires_ms),
        (orders_before[0].created_ms, orders_before[0].expires_ms)
    );
    for (id, before) in ids.iter().zip(&orders_before).skip(1) {
        assert_eq!(&order(&mut c, id), before, "{id} is as it was");
    }
    assert_eq!(stock(&mut c, &lasting), lasting_before);
    let o = wait_not_reserved(&mut c, &expiring);
    assert_eq!(o.state, "expired", "{o:?}");
    assert!(o.updated_ms >= o.expires_ms, "{o:?}");
    if o.expires_ms > restarted_ms + 1000 {
        assert!(
            o.updated_ms - o.expires_ms < 1000,
            "within a tick of its deadline: {o:?}"
        );
    }
    assert_eq!(stock(&mut c, &fleeting), stock_of(9, 0, 1, 2, 4, 10));
    assert_eq!(c.call(&["ORDER.PAY", &expiring]), EXPIRED);

    // Payments, cancellations, holdings and REQIDs survived.
    assert_eq!(c.call(&["ORDER.PAY", &paid]), OK);
    assert_eq!(c.call(&["ORDER.CANCEL", &paid]), PAID);
    assert_eq!(c.call(&["ORDER.PAY", &cancelled]), CANCELLED);
    assert_eq!(c.call(&["SECKILL.BUY", &lasting, "alice"]), LIMIT);
    assert_eq!(c.call(&["SECKILL.BUY", &lasting, "bob", "QTY", "2"]), LIMIT);
    assert_eq!(buy(&mut c, &[&lasting, "alice", "QTY", "2", "REQID", "r3"]), held);
    assert_eq!(buy(&mut c, &[&fleeting, "bob", "REQID", "r2"]), paid);
    assert_eq!(buy(&mut c, &[&fleeting, "alice", "QTY", "2", "REQID", "r1"]), expiring);
    assert_eq!(stock(&mut c, &lasting), lasting_before);
    assert_eq!(stock(&mut c, &fleeting), stock_of(9, 0, 1, 2, 4, 10));
    // Order sequences are durable: new ids are new.
    let mut seen: HashSet<String> = ids.iter().map(|id| id.to_string()).collect();
    for (sku, user) in [
        (&fleeting, "dave"),
        (&lasting, "dave"),
        (&fleeting, "erin"),
        (&lasting, "erin"),
    ] {
        let id = buy(&mut c, &[sku, user]);
        assert!(seen.insert(id.clone()), "{id} handed out twice");
    }
    assert_eq!(order(&mut c, &held).state, "reserved");
}

/// Counts stay within the signed 64-bit integers RESP carries: a restock past 2^63 - 1 is
/// refused as Redis refuses INCRBY past it, changing nothing, and the state survives a
/// restart balanced.
#[test]
fn stock_counts_never_pass_the_signed_64_bit_range() {
    const OVERFLOW: &str = "-ERR increment or decrement would overflow\r\n";
    let (server, dir) = start(1, "");
    let mut c = server.raw();
    let max = i64::MAX.to_string();
    assert_eq!(c.call(&["STOCK.SET", "big", &max]), OK);
    assert_eq!(c.call(&["STOCK.ADD", "big", "1"]), OVERFLOW);
    assert_eq!(stock(&mut c, "big"), stock_of(i64::MAX, 0, 0, 0, 900, i64::MAX));
    assert_eq!(c.call(&["STOCK.SET", "small", "100"]), OK);
    buy(&mut c, &["small", "alice", "QTY", "5"]);
    buy(&mut c, &["small", "bob", "QTY", "5"]);
    assert_eq!(c.call(&["STOCK.ADD", "small", &max]), OVERFLOW);
    assert_eq!(c.call(&["STOCK.ADD", "small", &(i64::MAX - 99).to_string()]), OVERFLOW);
    let kept = stock_of(90, 10, 0, 0, 900, 100);
    assert_eq!(stock(&mut c, "small"), kept);
    // The largest restock that fits is taken.
    let room = (i64::MAX - 100).to_string();
    assert_eq!(
        c.call(&["STOCK.ADD", "small", &room]),
        format!(":{}\r\n", i64::MAX - 10)
    );
    let full = stock(&mut c, "small");
    assert!(full.balanced() && full.total == i64::MAX, "{full:?}");
    assert_eq!(c.call(&["STOCK.ADD", "small", "-9223372036854775808"]), BELOW_ZERO);
    drop(c);
    let (_, data) = server.stop(libc::SIGTERM);
    let server = Server::start_in(1, data, Some(&config_file(&dir, "")), &[]);
    let mut c = server.raw();
    assert_eq!(stock(&mut c, "small"), full, "the state a restart replays");
    assert_eq!(stock(&mut c, "big"), stock_of(i64::MAX, 0, 0, 0, 900, i64::MAX));
}
