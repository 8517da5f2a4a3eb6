//! A service: one workload's per-shard state and the messages it takes from other shards,
//! and the one way to run an operation on the shard that owns its state
//! ([`Service::on_owner`]).
//!
//! A service owns its state, its message type and its reply type, and reaches the same
//! service on other shards through its [`Peers`]: typed ends of the shard's mesh that
//! `shard.rs` builds. It answers every message through a [`Reply`]: now, with a future, or
//! with a [`Promise`] it keeps until it can answer (a flash-sale write waiting for its log
//! record). The reply goes back the way the message came, local or over the mesh, without
//! the service knowing which.

use std::future::Future;
use std::rc::Rc;

use shardhub_core::ShardId;

use super::answer::{Answer, Later};
use super::mesh::{MeshBusy, ReplyTo};
use crate::config::Config;

/// One workload's part of a shard.
pub trait Service: 'static {
    /// What other shards (and this one) ask of the owner.
    type Msg: Send + 'static;
    /// What the owner answers.
    type Reply: Send + 'static;

    /// The same service on the other shards.
    fn peers(&self) -> &Peers<Self::Msg, Self::Reply>;

    /// Runs `msg` for state this shard owns and answers through `reply`.
    fn handle(self: &Rc<Self>, msg: Self::Msg, reply: Reply<'_, Self::Reply>) -> Replied;

    /// Starts the service's own tasks (log flushers, timers) once the shard runs.
    fn start(self: &Rc<Self>) {}

    /// Takes what can change in a reloaded config.
    fn reconfigure(&self, _config: &Config) {}

    /// The server started draining: close what would hold the drain up.
    fn drain(&self) {}

    /// Runs `msg` on `owner`: at once when that is this shard, else through the mesh. Fails
    /// at once, queuing nothing, when the mesh is full.
    fn on_owner(self: &Rc<Self>, owner: ShardId, msg: Self::Msg) -> Result<Answer<Self::Reply>, MeshBusy> {
        let peers = self.peers();
        if owner != peers.me {
            return peers.call(owner, msg).map(Answer::Later);
        }
        let mut slot = None;
        let _ = self.handle(msg, Reply::local(&mut slot, peers.unanswered));
        Ok(slot.unwrap_or_else(|| Answer::Now((peers.unanswered)())))
    }

    /// Runs `msg` on `owner` without waiting for its answer (hints, releases, wills). The
    /// handler must do its work before it answers: an answer it gives `later` is dropped.
    fn tell(self: &Rc<Self>, owner: ShardId, msg: Self::Msg) -> Result<(), MeshBusy> {
        if owner != self.peers().me {
            return self.peers().notify(owner, msg);
        }
        let _ = self.handle(msg, Reply(Route::Nobody));
        Ok(())
    }
}

/// Sends a service's messages to its peers; implemented once, in `shard.rs`, over the
/// shard's mesh.
pub trait Port<Q, R>: ReplyPort<R> {
    /// Sends a request; the receiver gets the owner's reply.
    fn call(&self, dst: ShardId, msg: Q) -> Result<local_sync::oneshot::Receiver<R>, MeshBusy>;
    /// Sends a one-way message.
    fn notify(&self, dst: ShardId, msg: Q) -> Result<(), MeshBusy>;
    /// Messages that fit in the ring to `dst` now.
    fn room(&self, dst: ShardId) -> usize;
}

/// Sends a service's replies back over the mesh.
pub trait ReplyPort<R> {
    /// A reply given while its request's batch is drained.
    fn reply_in_batch(&self, to: ReplyTo, reply: R);
    /// A reply given later.
    fn reply(&self, to: ReplyTo, reply: R);
}

/// A service's way to the same service on every shard.
pub struct Peers<Q, R> {
    me: ShardId,
    count: usize,
    port: Rc<dyn Port<Q, R>>,
    replies: Rc<dyn ReplyPort<R>>,
    /// The reply a caller gets when the owner cannot answer (the process is going down).
    unanswered: fn() -> R,
}

impl<Q: 'static, R: 'static> Peers<Q, R> {
    pub fn new<P: Port<Q, R> + 'static>(me: ShardId, count: usize, port: Rc<P>, unanswered: fn() -> R) -> Self {
        Self {
            me,
            count,
            replies: port.clone(),
            port,
            unanswered,
        }
    }

    /// This shard.
    pub fn me(&self) -> ShardId {
        self.me
    }

    /// Shards in the process, this one included.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Every shard but this one.
    pub fn others(&self) -> impl Iterator<Item = ShardId> + '_ {
        (0..self.count as ShardId).filter(move |&s| s != self.me)
    }

    /// Sends a request to another shard.
    pub fn call(&self, dst: ShardId, msg: Q) -> Result<Later<R>, MeshBusy> {
        let rx = self.port.call(dst, msg)?;
        Ok(Later::reply(rx, self.unanswered))
    }

    /// Sends a one-way message to another shard.
    pub fn notify(&self, dst: ShardId, msg: Q) -> Result<(), MeshBusy> {
        self.port.notify(dst, msg)
    }

    /// Messages that fit in the ring to `dst` now (sends to it cannot fail until then).
    pub fn room(&self, dst: ShardId) -> usize {
        self.port.room(dst)
    }

    /// The reply a request with no answer gets.
    pub fn unanswered(&self) -> R {
        (self.unanswered)()
    }

    /// Where a request from another shard is answered.
    pub fn reply_to(&self, to: ReplyTo) -> Reply<'_, R> {
        Reply(Route::Remote {
            to,
            port: &self.replies,
        })
    }
}

/// Proof that a message was answered: only a [`Reply`] makes one, so a handler cannot
/// return without answering.
#[must_use]
pub struct Replied(());

/// Where the answer to one message goes.
pub struct Reply<'a, R>(Route<'a, R>);

enum Route<'a, R> {
    /// The caller is on this shard and reads the slot when the handler returns.
    Local {
        slot: &'a mut Option<Answer<R>>,
        unanswered: fn() -> R,
    },
    /// The caller is another shard.
    Remote {
        to: ReplyTo,
        port: &'a Rc<dyn ReplyPort<R>>,
    },
    /// Nobody waits (a local one-way message).
    Nobody,
}

impl<'a, R: 'static> Reply<'a, R> {
    fn local(slot: &'a mut Option<Answer<R>>, unanswered: fn() -> R) -> Self {
        Reply(Route::Local { slot, unanswered })
    }

    /// Answers at once.
    pub fn now(self, reply: R) -> Replied {
        match self.0 {
            Route::Local { slot, .. } => *slot = Some(Answer::Now(reply)),
            Route::Remote { to, port } => port.reply_in_batch(to, reply),
            Route::Nobody => {}
        }
        Replied(())
    }

    /// Answers with what `future` gives (run here, on the owner).
    pub fn later(self, future: impl Future<Output = R> + 'static) -> Replied {
        match self.0 {
            Route::Local { slot, .. } => *slot = Some(Answer::later(future)),
            Route::Remote { to, port } => {
                let port = port.clone();
                monoio::spawn(async move { port.reply(to, future.await) });
            }
            // Nobody waits for it: a told message does its work before it answers (a
            // retained message's record is appended all the same), so what the future would
            // wait for is not waited for.
            Route::Nobody => drop(future),
        }
        Replied(())
    }

    /// Answers with `answer`, at once or once it comes.
    pub fn answer(self, answer: Answer<R>) -> Replied {
        match answer {
            Answer::Now(reply) => self.now(reply),
            Answer::Later(later) => self.later(later),
        }
    }

    /// Answers later: the owner keeps the promise and keeps it when it can (no task, no
    /// future: a flash-sale write parked until its log record is safe).
    pub fn promise(self) -> (Promise<R>, Replied) {
        let promise = match self.0 {
            Route::Local { slot, unanswered } => {
                let (tx, rx) = local_sync::oneshot::channel();
                *slot = Some(Answer::Later(Later::reply(rx, unanswered)));
                Promise(Kept::Local(tx))
            }
            Route::Remote { to, port } => Promise(Kept::Remote { to, port: port.clone() }),
            Route::Nobody => Promise(Kept::Nobody),
        };
        (promise, Replied(()))
    }
}

/// An answer the owner still owes.
pub struct Promise<R>(Kept<R>);

enum Kept<R> {
    Local(local_sync::oneshot::Sender<R>),
    Remote { to: ReplyTo, port: Rc<dyn ReplyPort<R>> },
    Nobody,
}

impl<R> Promise<R> {
    pub fn keep(self, reply: R) {
        match self.0 {
            // A caller that went away (its connection closed) no longer wants it.
            Kept::Local(tx) => {
                let _ = tx.send(reply);
            }
            Kept::Remote { to, port } => port.reply(to, reply),
            Kept::Nobody => {}
        }
    }
}
