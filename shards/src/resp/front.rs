//! The RESP front end of one shard, as a service: the connections it serves (CLIENT LIST),
//! what it counts, and the services its commands reach. Other shards ask it for its part of
//! INFO, DBSIZE and CLIENT LIST.

use std::cell::RefCell;
use std::rc::Rc;

use super::clients::{ClientListFilter, RespClients};
use super::metrics::RespMetrics;
use crate::admin::AdminService;
use crate::kv::KvService;
use crate::metrics::{Collect, Families};
use crate::runtime::{Peers, Replied, Reply, Service, ShardCtx};
use crate::seckill::SeckillService;

pub enum RespMsg {
    /// Counters for INFO and DBSIZE.
    Stats,
    /// CLIENT LIST lines of the destination's connections.
    ClientList(ClientListFilter),
}

pub enum RespReply {
    Stats(ShardStats),
    ClientList(Vec<String>),
    /// The shard could not answer (only while the process goes down).
    Unavailable,
}

/// One shard's counters, as INFO shows them.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShardStats {
    pub shard: u16,
    pub keys: u64,
    pub expires: u64,
    pub expired_keys: u64,
    pub connected_clients: u64,
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub commands_processed: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub mesh_requests_sent: u64,
    pub mesh_notices_sent: u64,
    pub mesh_requests_received: u64,
    pub mesh_busy: u64,
    pub driver: &'static str,
}

pub struct RespFront {
    ctx: Rc<ShardCtx>,
    peers: Peers<RespMsg, RespReply>,
    pub kv: Rc<KvService>,
    pub seckill: Rc<SeckillService>,
    pub admin: Rc<AdminService>,
    pub clients: RefCell<RespClients>,
    pub metrics: RefCell<RespMetrics>,
}

impl RespFront {
    pub fn new(
        ctx: Rc<ShardCtx>,
        peers: Peers<RespMsg, RespReply>,
        kv: Rc<KvService>,
        seckill: Rc<SeckillService>,
        admin: Rc<AdminService>,
    ) -> Self {
        Self {
            ctx,
            peers,
            kv,
            seckill,
            admin,
            clients: RefCell::default(),
            metrics: RefCell::default(),
        }
    }

    pub fn ctx(&self) -> &Rc<ShardCtx> {
        &self.ctx
    }

    pub fn stats(&self) -> ShardStats {
        let metrics = self.metrics.borrow();
        let keys = self.kv.counts();
        let connections = self.ctx.connections();
        let mesh = self.ctx.mesh_stats();
        ShardStats {
            shard: self.ctx.id,
            keys: keys.keys,
            expires: keys.expires,
            expired_keys: keys.expired_keys,
            connected_clients: connections.current,
            total_connections: connections.total,
            rejected_connections: connections.rejected,
            commands_processed: metrics.commands_processed(),
            net_input_bytes: metrics.bytes_in,
            net_output_bytes: metrics.bytes_out,
            mesh_requests_sent: mesh.requests_sent,
            mesh_notices_sent: mesh.notices_sent,
            mesh_requests_received: mesh.requests_received,
            mesh_busy: mesh.busy,
            driver: self.ctx.driver,
        }
    }
}

impl Service for RespFront {
    type Msg = RespMsg;
    type Reply = RespReply;

    fn peers(&self) -> &Peers<RespMsg, RespReply> {
        &self.peers
    }

    fn handle(self: &Rc<Self>, msg: RespMsg, reply: Reply<'_, RespReply>) -> Replied {
        match msg {
            RespMsg::Stats => reply.now(RespReply::Stats(self.stats())),
            RespMsg::ClientList(filter) => {
                reply.now(RespReply::ClientList(self.clients.borrow().list(&filter, self.ctx.id)))
            }
        }
    }
}

impl Collect for RespFront {
    fn collect(&self, out: &mut Families) {
        self.metrics.borrow().collect(out);
    }
}
