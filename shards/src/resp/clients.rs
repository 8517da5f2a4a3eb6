//! The RESP connections a shard serves, as CLIENT LIST and CLIENT INFO show them.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;

/// What CLIENT LIST shows of one connection; updated by its driver.
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub fd: i32,
    pub created: Instant,
    pub state: RefCell<ClientState>,
}

pub struct ClientState {
    pub name: Option<Bytes>,
    pub last_command: &'static str,
    pub last_active: Instant,
    pub protocol: i64,
}

/// Which connections CLIENT LIST shows.
#[derive(Clone, Debug)]
pub enum ClientListFilter {
    All,
    Ids(Vec<u64>),
}

#[derive(Default)]
pub struct RespClients {
    clients: BTreeMap<u64, Rc<ClientInfo>>,
}

impl RespClients {
    pub fn insert(&mut self, info: Rc<ClientInfo>) {
        self.clients.insert(info.id, info);
    }

    pub fn remove(&mut self, id: u64) {
        self.clients.remove(&id);
    }

    pub fn list(&self, filter: &ClientListFilter, shard: u16) -> Vec<String> {
        let now = Instant::now();
        self.clients
            .values()
            .filter(|c| match filter {
                ClientListFilter::All => true,
                ClientListFilter::Ids(ids) => ids.contains(&c.id),
            })
            .map(|c| c.line(now, shard))
            .collect()
    }
}

impl ClientInfo {
    /// One line in Redis's CLIENT LIST format, with the fields shardhub has, plus `shard=`.
    pub fn line(&self, now: Instant, shard: u16) -> String {
        let s = self.state.borrow();
        let name = s
            .name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 cmd={} user=default resp={} shard={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            now.duration_since(self.created).as_secs(),
            now.duration_since(s.last_active).as_secs(),
            s.last_command,
            s.protocol,
            shard
        )
    }
}
