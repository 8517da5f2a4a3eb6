//! The HTTP front end: one connection driver ([`conn`]) for the admin endpoints, the device
//! shadows and the light wallet, which it reaches through their services.

pub mod conn;

use std::cell::Cell;
use std::rc::Rc;

use crate::admin::AdminService;
use crate::metrics::{Collect, Families};
use crate::mqtt::broker::Broker;
use crate::runtime::ShardCtx;
use crate::wallet::WalletService;

/// What one shard's HTTP connections reach, and what they count.
pub struct HttpFront {
    pub ctx: Rc<ShardCtx>,
    pub admin: Rc<AdminService>,
    pub broker: Rc<Broker>,
    pub wallet: Rc<WalletService>,
    /// Requests served.
    pub requests: Cell<u64>,
}

impl Collect for HttpFront {
    fn collect(&self, out: &mut Families) {
        out.counter(
            "shardhub_http_requests_total",
            "HTTP requests served.",
            self.requests.get(),
        );
    }
}
