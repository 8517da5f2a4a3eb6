//! A one-slot wake-up for one task, raised from elsewhere on the same shard: a raise with
//! nobody waiting is remembered. Log flushers, MQTT connection tasks and the write batch use
//! it.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct Signal {
    raised: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Signal {
    pub fn raise(&self) {
        self.raised.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Resolves once the signal is raised (at once if it already was), lowering it.
    pub fn wait(&self) -> Wait<'_> {
        Wait { signal: self }
    }
}

pub struct Wait<'a> {
    signal: &'a Signal,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.raised.replace(false) {
            return Poll::Ready(());
        }
        self.signal.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}
