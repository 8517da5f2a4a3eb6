//! The one "answered now or later" type of the daemon: what running an operation on its owner
//! shard gives back, what a RESP command gives its connection, what a broker or wallet
//! operation gives its caller.
//!
//! An answer is `Now` when the owner is this shard and nothing has to wait. It is `Later`
//! when the owner is another shard (the reply comes back over the mesh), when the owner
//! parked it until its log has the record, or when work remains (a fan-out, a durability
//! wait). A caller that can finish at once (most commands on a one-shard server) never
//! allocates.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An answer, already there or on its way.
pub enum Answer<T> {
    Now(T),
    Later(Later<T>),
}

impl<T: 'static> Answer<T> {
    /// An answer that `future` will give.
    pub fn later(future: impl Future<Output = T> + 'static) -> Self {
        Answer::Later(Later::task(future))
    }

    /// Waits for the answer.
    pub async fn get(self) -> T {
        match self {
            Answer::Now(value) => value,
            Answer::Later(later) => later.await,
        }
    }

    /// The answer turned into another by `f`: at once when it is here, else once it comes.
    pub fn map<U: 'static>(self, f: impl FnOnce(T) -> U + 'static) -> Answer<U> {
        match self {
            Answer::Now(value) => Answer::Now(f(value)),
            Answer::Later(later) => Answer::later(async move { f(later.await) }),
        }
    }

    pub fn is_now(&self) -> bool {
        matches!(self, Answer::Now(_))
    }
}

impl<T> From<T> for Answer<T> {
    fn from(value: T) -> Self {
        Answer::Now(value)
    }
}

/// An answer still to come.
pub struct Later<T>(Pending<T>);

enum Pending<T> {
    /// A reply someone else sends: an owner shard over the mesh, or this shard's owner side
    /// once its log acknowledged the record. `unanswered` stands in when the sender is gone
    /// (only while the process goes down).
    Reply {
        rx: local_sync::oneshot::Receiver<T>,
        unanswered: fn() -> T,
    },
    /// Work still to run on this shard.
    Task(Pin<Box<dyn Future<Output = T>>>),
}

impl<T> Later<T> {
    pub fn reply(rx: local_sync::oneshot::Receiver<T>, unanswered: fn() -> T) -> Self {
        Later(Pending::Reply { rx, unanswered })
    }

    pub fn task(future: impl Future<Output = T> + 'static) -> Self {
        Later(Pending::Task(Box::pin(future)))
    }
}

impl<T> Future for Later<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // Both variants are Unpin (a receiver, a boxed future).
        match &mut self.get_mut().0 {
            Pending::Reply { rx, unanswered } => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(value)) => Poll::Ready(value),
                Poll::Ready(Err(_)) => Poll::Ready(unanswered()),
                Poll::Pending => Poll::Pending,
            },
            Pending::Task(future) => future.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(future: F) -> F::Output {
        crate::runtime::executor::build(64)
            .expect("a runtime")
            .0
            .block_on(future)
    }

    #[test]
    fn now_maps_at_once_and_later_maps_when_it_comes() {
        let now: Answer<u32> = 2.into();
        let mapped = now.map(|v| v * 10);
        assert!(mapped.is_now());
        assert_eq!(block_on(mapped.get()), 20);

        let (tx, rx) = local_sync::oneshot::channel();
        let later = Answer::Later(Later::reply(rx, || 0)).map(|v: u32| v + 1);
        assert!(!later.is_now());
        tx.send(41).unwrap();
        assert_eq!(block_on(later.get()), 42);
    }

    #[test]
    fn a_reply_whose_sender_is_gone_is_unanswered() {
        let (tx, rx) = local_sync::oneshot::channel::<u32>();
        drop(tx);
        assert_eq!(block_on(Answer::Later(Later::reply(rx, || 7)).get()), 7);
    }
}
