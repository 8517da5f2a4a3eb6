//! The cross-shard mesh: a one-way lock-free SPSC ring for every (source, destination) pair
//! of shards, a doorbell per shard, batch draining, and a bounded spin before parking.
//!
//! The mesh is a transport: it knows nothing of the messages it carries. A [`Wire`] names
//! them — the requests and notices, the replies, and what a caller leaves in the pending
//! table until its reply comes — and `shard.rs` is the one place that says which service a
//! message belongs to.
//!
//! Why this shape: a futex or eventfd wake costs about 60 us on our VMs, a hand-off to a
//! spinning shard about 0.5 us. So a shard that has just seen mesh traffic keeps polling its
//! rings for `spin_us` (yielding to its connections in between) before it parks, and a sender
//! rings the doorbell only when the receiver is really parked. Each ring is FIFO, and the
//! flash-sale and broker logic downstream relies on that per-pair order.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use rtrb::{Consumer, Producer, RingBuffer};
use shardhub_core::ShardId;
use slab::Slab;

/// While requests of this shard await replies it polls this many times `spin` before
/// parking: long enough to cover a busy owner's turn, short enough to bound the burn.
const AWAITING_SPIN_FACTOR: u32 = 20;
/// Pending-table slots allocated up front.
const PENDING_SLOTS_INITIAL: usize = 1024;

/// What one mesh carries.
pub trait Wire: 'static {
    /// Requests and one-way notices.
    type Msg: Send + 'static;
    /// Replies to requests.
    type Answer: Send + 'static;
    /// What a caller keeps in the pending table until its reply comes (shard-local).
    type Waiter;

    /// Hands a reply to the caller that waits for it.
    fn complete(waiter: Self::Waiter, answer: Self::Answer);
}

/// What travels on a ring.
pub enum Envelope<W: Wire> {
    Request {
        id: u32,
        msg: W::Msg,
    },
    Reply {
        id: u32,
        answer: W::Answer,
    },
    /// A one-way message: no pending-table slot, no reply (hints, forwarded publishes).
    Notice {
        msg: W::Msg,
    },
}

/// How a shard is woken from park: cross-thread, so atomics only.
#[derive(Default)]
pub struct Doorbell {
    waker: AtomicWaker,
    parked: AtomicBool,
}

impl Doorbell {
    /// Wakes the shard if it is parked. Cheap when it is not: one load.
    pub fn ring(&self) {
        // Pairs with the fence in `Mesh::park`: either the receiver sees our message when it
        // re-checks its rings, or we see `parked` and wake it.
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel) {
            self.waker.wake();
        }
    }
}

/// One shard's ends of the rings, built on the main thread and moved to the shard's thread.
pub struct MeshEndpoint<W: Wire> {
    shard: ShardId,
    producers: Vec<Option<Producer<Envelope<W>>>>,
    consumers: Vec<Option<Consumer<Envelope<W>>>>,
    doorbells: Arc<[Doorbell]>,
}

/// Builds the full mesh for `shards` shards with `capacity` slots per ring.
pub fn build<W: Wire>(shards: usize, capacity: usize) -> (Vec<MeshEndpoint<W>>, Arc<[Doorbell]>) {
    let doorbells: Arc<[Doorbell]> = (0..shards).map(|_| Doorbell::default()).collect();
    let mut endpoints: Vec<MeshEndpoint<W>> = (0..shards)
        .map(|i| MeshEndpoint {
            shard: i as ShardId,
            producers: (0..shards).map(|_| None).collect(),
            consumers: (0..shards).map(|_| None).collect(),
            doorbells: doorbells.clone(),
        })
        .collect();
    for src in 0..shards {
        for dst in 0..shards {
            if src != dst {
                let (p, c) = RingBuffer::new(capacity);
                endpoints[src].producers[dst] = Some(p);
                endpoints[dst].consumers[src] = Some(c);
            }
        }
    }
    (endpoints, doorbells)
}

/// Where a reply goes: the request's source shard and its pending-table slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTo {
    src: usize,
    id: u32,
}

impl ReplyTo {
    /// The sender of a notice: it wants no reply.
    pub const NOBODY: ReplyTo = ReplyTo {
        src: usize::MAX,
        id: u32::MAX,
    };

    /// Whether the sender waits for a reply (false for a notice).
    pub fn wants_reply(&self) -> bool {
        self.src != usize::MAX
    }
}

/// Why a message could not be sent; the caller answers "busy" in its protocol's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeshBusy;

/// Counters the shard exports.
#[derive(Default, Clone, Copy, Debug)]
pub struct MeshStats {
    pub requests_sent: u64,
    pub notices_sent: u64,
    pub requests_received: u64,
    pub replies_sent: u64,
    pub busy: u64,
    pub parks: u64,
}

/// The shard-local face of the mesh (not `Send`: it lives on its shard's thread).
pub struct Mesh<W: Wire> {
    me: ShardId,
    producers: RefCell<Vec<Option<Producer<Envelope<W>>>>>,
    consumers: RefCell<Vec<Option<Consumer<Envelope<W>>>>>,
    doorbells: Arc<[Doorbell]>,
    pending: RefCell<Slab<W::Waiter>>,
    pending_max: usize,
    /// Replies that found their ring full; resent first on the next turn. Bounded because
    /// each answers a request that was itself bounded by the ring.
    overflow: RefCell<Vec<VecDeque<Envelope<W>>>>,
    /// A reply of the batch being drained went out: ring its source's doorbell once after.
    replied_in_batch: Cell<bool>,
    stats: Cell<MeshStats>,
}

impl<W: Wire> Mesh<W> {
    pub fn new(endpoint: MeshEndpoint<W>, pending_max: usize) -> Self {
        let shards = endpoint.producers.len();
        Self {
            me: endpoint.shard,
            producers: RefCell::new(endpoint.producers),
            consumers: RefCell::new(endpoint.consumers),
            doorbells: endpoint.doorbells,
            pending: RefCell::new(Slab::with_capacity(PENDING_SLOTS_INITIAL.min(pending_max))),
            pending_max,
            overflow: RefCell::new((0..shards).map(|_| VecDeque::new()).collect()),
            replied_in_batch: Cell::new(false),
            stats: Cell::new(MeshStats::default()),
        }
    }

    pub fn shard(&self) -> ShardId {
        self.me
    }

    pub fn shard_count(&self) -> usize {
        self.doorbells.len()
    }

    pub fn stats(&self) -> MeshStats {
        self.stats.get()
    }

    fn bump(&self, f: impl FnOnce(&mut MeshStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Sends `msg` to shard `dst`; `waiter` gets the reply. Fails at once, without queuing,
    /// when the ring or the pending table is full.
    pub fn call(&self, dst: ShardId, msg: W::Msg, waiter: W::Waiter) -> Result<(), MeshBusy> {
        debug_assert_ne!(dst, self.me, "local work does not travel the mesh");
        let mut pending = self.pending.borrow_mut();
        if pending.len() >= self.pending_max {
            self.bump(|s| s.busy += 1);
            return Err(MeshBusy);
        }
        let entry = pending.vacant_entry();
        let id = entry.key() as u32;
        let mut producers = self.producers.borrow_mut();
        let producer = producers[usize::from(dst)]
            .as_mut()
            .expect("a ring to every other shard");
        if producer.push(Envelope::Request { id, msg }).is_err() {
            self.bump(|s| s.busy += 1);
            return Err(MeshBusy);
        }
        entry.insert(waiter);
        self.doorbells[usize::from(dst)].ring();
        self.bump(|s| s.requests_sent += 1);
        Ok(())
    }

    /// Sends a one-way `msg` to shard `dst`. Fails at once when the ring is full; the caller
    /// decides whether to wait for [`Mesh::room`], retry later or count a drop.
    pub fn notify(&self, dst: ShardId, msg: W::Msg) -> Result<(), MeshBusy> {
        debug_assert_ne!(dst, self.me, "local work does not travel the mesh");
        let mut producers = self.producers.borrow_mut();
        let producer = producers[usize::from(dst)]
            .as_mut()
            .expect("a ring to every other shard");
        if producer.push(Envelope::Notice { msg }).is_err() {
            self.bump(|s| s.busy += 1);
            return Err(MeshBusy);
        }
        self.doorbells[usize::from(dst)].ring();
        self.bump(|s| s.notices_sent += 1);
        Ok(())
    }

    /// Free slots in the ring to `dst`: that many sends from this shard will not fail, since
    /// only this shard writes to it.
    pub fn room(&self, dst: ShardId) -> usize {
        self.producers.borrow()[usize::from(dst)]
            .as_ref()
            .map_or(0, Producer::slots)
    }

    /// Answers a request whose handler kept its `ReplyTo` (it waited for the log).
    pub fn reply(&self, to: ReplyTo, answer: W::Answer) {
        if !to.wants_reply() {
            return;
        }
        self.send_reply(to.src, Envelope::Reply { id: to.id, answer });
        self.doorbells[to.src].ring();
    }

    /// Answers a request of the batch being drained; the doorbell rings once after it.
    pub fn reply_in_batch(&self, to: ReplyTo, answer: W::Answer) {
        if !to.wants_reply() {
            return;
        }
        self.send_reply(to.src, Envelope::Reply { id: to.id, answer });
        self.replied_in_batch.set(true);
    }

    /// Whether requests of this shard await replies.
    pub fn awaiting(&self) -> bool {
        !self.pending.borrow().is_empty()
    }

    /// Receives forever: hands requests and notices to `handle` (which answers through
    /// [`Mesh::reply_in_batch`] at once, or [`Mesh::reply`] later) and replies to their
    /// waiters.
    pub async fn run(&self, spin: Duration, handle: impl Fn(W::Msg, ReplyTo)) {
        let mut last_traffic = Instant::now();
        loop {
            let moved = self.drain(&handle);
            if moved > 0 {
                last_traffic = Instant::now();
                YieldNow::default().await;
            } else if last_traffic.elapsed() < spin
                || (self.awaiting() && last_traffic.elapsed() < spin * AWAITING_SPIN_FACTOR)
            {
                // Keep polling while traffic is recent, and longer while our own requests
                // await replies: a reply that finds us polling costs no wake-up.
                YieldNow::default().await;
            } else {
                self.bump(|s| s.parks += 1);
                self.park().await;
                last_traffic = Instant::now();
            }
        }
    }

    /// One pass over every incoming ring; returns how many envelopes moved.
    fn drain(&self, handle: &impl Fn(W::Msg, ReplyTo)) -> usize {
        let mut moved = self.flush_overflow();
        for src in 0..self.doorbells.len() {
            // Take the batch out first so handlers may call back into the mesh.
            let Some(batch) = self.take_batch(src) else {
                continue;
            };
            moved += batch.len();
            self.replied_in_batch.set(false);
            for envelope in batch {
                match envelope {
                    Envelope::Request { id, msg } => {
                        self.bump(|s| s.requests_received += 1);
                        handle(msg, ReplyTo { src, id });
                    }
                    Envelope::Reply { id, answer } => {
                        // A waiter whose caller went away (its connection closed) just
                        // drops the answer.
                        if let Some(waiter) = self.pending.borrow_mut().try_remove(id as usize) {
                            W::complete(waiter, answer);
                        }
                    }
                    Envelope::Notice { msg } => {
                        self.bump(|s| s.requests_received += 1);
                        handle(msg, ReplyTo::NOBODY);
                    }
                }
            }
            if self.replied_in_batch.get() {
                self.doorbells[src].ring();
            }
        }
        moved
    }

    fn take_batch(&self, src: usize) -> Option<Vec<Envelope<W>>> {
        let mut consumers = self.consumers.borrow_mut();
        let consumer = consumers[src].as_mut()?;
        let n = consumer.slots();
        if n == 0 {
            return None;
        }
        let mut batch = Vec::with_capacity(n);
        for _ in 0..n {
            batch.push(consumer.pop().expect("slots counted above"));
        }
        Some(batch)
    }

    fn send_reply(&self, dst: usize, envelope: Envelope<W>) {
        let mut overflow = self.overflow.borrow_mut();
        if !overflow[dst].is_empty() {
            overflow[dst].push_back(envelope);
            return;
        }
        let mut producers = self.producers.borrow_mut();
        let producer = producers[dst].as_mut().expect("a ring to every other shard");
        match producer.push(envelope) {
            Ok(()) => self.bump(|s| s.replies_sent += 1),
            Err(rtrb::PushError::Full(envelope)) => overflow[dst].push_back(envelope),
        }
    }

    fn flush_overflow(&self) -> usize {
        let mut overflow = self.overflow.borrow_mut();
        let mut producers = self.producers.borrow_mut();
        let mut moved = 0;
        for (dst, queue) in overflow.iter_mut().enumerate() {
            if queue.is_empty() {
                continue;
            }
            let producer = producers[dst].as_mut().expect("a ring to every other shard");
            while let Some(envelope) = queue.pop_front() {
                if let Err(rtrb::PushError::Full(envelope)) = producer.push(envelope) {
                    queue.push_front(envelope);
                    break;
                }
                moved += 1;
            }
            self.doorbells[dst].ring();
        }
        moved
    }

    fn has_incoming(&self) -> bool {
        let overflowing = self.overflow.borrow().iter().any(|q| !q.is_empty());
        overflowing || self.consumers.borrow().iter().flatten().any(|c| !c.is_empty())
    }

    fn park(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            let bell = &self.doorbells[usize::from(self.me)];
            if self.has_incoming() {
                bell.parked.store(false, Ordering::Relaxed);
                return Poll::Ready(());
            }
            bell.waker.register(cx.waker());
            bell.parked.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if self.has_incoming() {
                bell.parked.store(false, Ordering::Relaxed);
                return Poll::Ready(());
            }
            Poll::Pending
        })
    }
}

/// Lets the executor run other tasks once. monoio has no public `yield_now`.
#[derive(Default)]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    /// A wire of numbers: requests carry a sequence number, replies echo it.
    struct Numbers;

    impl Wire for Numbers {
        type Msg = u64;
        type Answer = u64;
        type Waiter = local_sync::oneshot::Sender<u64>;

        fn complete(waiter: Self::Waiter, answer: u64) {
            let _ = waiter.send(answer);
        }
    }

    fn runtime() -> crate::runtime::executor::ShardRuntime {
        crate::runtime::executor::build(256).expect("a runtime").0
    }

    /// Two shards on two threads: every request is answered, and the owner applies one
    /// sender's requests in the order they were sent, across parks and wake-ups.
    #[test]
    fn requests_cross_threads_in_fifo_order_and_all_replies_return() {
        const REQUESTS: u64 = 20_000;
        let (mut endpoints, _doorbells) = build::<Numbers>(2, 64);
        let owner_end = endpoints.pop().unwrap();
        let sender_end = endpoints.pop().unwrap();
        let owner = std::thread::spawn(move || {
            runtime().block_on(async move {
                let mesh = Rc::new(Mesh::new(owner_end, 1024));
                let seen = Rc::new(RefCell::new(Vec::new()));
                let record = seen.clone();
                let replier = mesh.clone();
                let run = mesh.run(Duration::from_micros(20), move |n, to| {
                    record.borrow_mut().push(n);
                    replier.reply_in_batch(to, n);
                });
                let done = async {
                    while seen.borrow().len() < REQUESTS as usize {
                        monoio::time::sleep(Duration::from_millis(1)).await;
                    }
                };
                monoio::select! {
                    _ = run => unreachable!("the mesh loop runs forever"),
                    _ = done => {}
                }
                let seen = seen.borrow();
                assert!(seen.windows(2).all(|w| w[0] < w[1]), "per-pair FIFO");
            });
        });
        runtime().block_on(async move {
            let mesh = Rc::new(Mesh::new(sender_end, 1024));
            let receiver = mesh.clone();
            monoio::spawn(async move { receiver.run(Duration::from_micros(20), |_, _| {}).await });
            let mut sent = 0u64;
            let mut busy = 0u64;
            while sent < REQUESTS {
                // A window of requests in flight, then their replies, as a pipelining client.
                let mut window = Vec::new();
                while window.len() < 256 && sent < REQUESTS {
                    let (tx, rx) = local_sync::oneshot::channel();
                    match mesh.call(1, sent, tx) {
                        Ok(()) => {
                            window.push((sent, rx));
                            sent += 1;
                        }
                        Err(MeshBusy) => {
                            busy += 1;
                            break;
                        }
                    }
                }
                for (n, rx) in window {
                    assert_eq!(rx.await.expect("a reply"), n);
                }
            }
            assert!(
                busy > 0,
                "a 64-slot ring refuses a 256-request burst instead of growing"
            );
            assert_eq!(mesh.stats().requests_sent, REQUESTS);
        });
        owner.join().unwrap();
    }

    #[test]
    fn room_counts_down_as_notices_fill_a_ring_nobody_drains() {
        let (mut endpoints, _doorbells) = build::<Numbers>(2, 16);
        let _receiver = endpoints.pop().unwrap();
        let mesh = Mesh::new(endpoints.pop().unwrap(), 16);
        assert_eq!(mesh.room(1), 16);
        for n in 0..16 {
            mesh.notify(1, n).unwrap();
        }
        assert_eq!(mesh.room(1), 0);
        assert_eq!(mesh.notify(1, 16), Err(MeshBusy));
        assert_eq!(mesh.stats().busy, 1);
    }
}
