//! The key space service: the string keys (GET, SET, INCR, expiry...) of the slots a shard
//! owns, and the RESP commands that reach them.
//!
//! - [`KvService`]: one shard's [`Keyspace`], run for any shard through [`KeyOp`] messages,
//!   with its active-expiry task.
//! - [`route`]: how a key command reaches the owner of its key, or of each of its keys.
//! - [`strings`], [`keys`]: the commands, parsed here on the accepting shard.

pub mod keys;
pub mod route;
pub mod strings;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use shardhub_core::{KeyOp, KeyReply, Keyspace, KeyspaceLimits};

use crate::config::Config;
use crate::metrics::{Collect, Families};
use crate::runtime::{unix_ms, Peers, Replied, Reply, Service, ShardCtx};

/// The owner's answer; `None` when it could not answer (the process is going down).
pub type KvReply = Option<KeyReply>;

pub struct KvService {
    ctx: Rc<ShardCtx>,
    peers: Peers<KeyOp, KvReply>,
    keyspace: RefCell<Keyspace>,
    /// Keys removed by active expiry.
    expired_keys: Cell<u64>,
}

/// What INFO and DBSIZE show of one shard's keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyCounts {
    pub keys: u64,
    pub expires: u64,
    pub expired_keys: u64,
}

impl KvService {
    pub fn new(ctx: Rc<ShardCtx>, peers: Peers<KeyOp, KvReply>) -> Self {
        let limits = limits(&ctx.config());
        Self {
            ctx,
            peers,
            keyspace: RefCell::new(Keyspace::new(limits)),
            expired_keys: Cell::new(0),
        }
    }

    pub fn ctx(&self) -> &Rc<ShardCtx> {
        &self.ctx
    }

    pub fn counts(&self) -> KeyCounts {
        let keyspace = self.keyspace.borrow();
        KeyCounts {
            keys: keyspace.len() as u64,
            expires: keyspace.expires_len() as u64,
            expired_keys: self.expired_keys.get(),
        }
    }

    /// Runs `op` on the owner of `key`.
    pub fn on_key_owner(self: &Rc<Self>, key: &[u8], op: KeyOp) -> route::Routed {
        self.on_owner(self.ctx.owner_of_key(key), op)
    }
}

fn limits(config: &Config) -> KeyspaceLimits {
    KeyspaceLimits {
        keys_max: config.keyspace.keys_per_shard_max,
    }
}

impl Service for KvService {
    type Msg = KeyOp;
    type Reply = KvReply;

    fn peers(&self) -> &Peers<KeyOp, KvReply> {
        &self.peers
    }

    fn handle(self: &Rc<Self>, op: KeyOp, reply: Reply<'_, KvReply>) -> Replied {
        reply.now(Some(self.keyspace.borrow_mut().apply(op, unix_ms())))
    }

    fn start(self: &Rc<Self>) {
        monoio::spawn(active_expiry(self.clone()));
    }

    fn reconfigure(&self, config: &Config) {
        self.keyspace.borrow_mut().set_limits(limits(config));
    }
}

/// Removes a bounded number of expired keys every `keyspace.active_expire_interval_ms`, as
/// Redis's active expiry does, so keys nobody reads again do not stay forever.
async fn active_expiry(kv: Rc<KvService>) {
    loop {
        let (interval_ms, per_cycle) = {
            let c = kv.ctx.config();
            (
                c.keyspace.active_expire_interval_ms,
                c.keyspace.active_expire_keys_per_cycle,
            )
        };
        monoio::time::sleep(Duration::from_millis(interval_ms)).await;
        let removed = kv.keyspace.borrow_mut().expire_cycle(unix_ms(), per_cycle);
        kv.expired_keys.set(kv.expired_keys.get() + removed as u64);
    }
}

impl Collect for KvService {
    fn collect(&self, out: &mut Families) {
        let c = self.counts();
        out.gauge("shardhub_keys", "Keys stored.", c.keys);
        out.gauge("shardhub_expires", "Keys with a time to live.", c.expires);
        out.counter(
            "shardhub_expired_keys_total",
            "Keys removed by active expiry.",
            c.expired_keys,
        );
    }
}
