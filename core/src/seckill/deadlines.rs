//! When reservations run out: one queue per hold length, plus an index of the queue fronts.
//!
//! A reservation's deadline is its start plus its SKU's hold, and starts arrive in time
//! order, so within one hold length deadlines arrive already sorted: a push is an append and
//! the earliest deadline is a queue front. Only a wall clock stepping backwards makes a push
//! land before the back; it is then inserted in place, so every queue stays sorted.
//!
//! Paying or cancelling leaves the entry where it is: removing from the middle of a queue
//! would cost more than skipping the entry when it comes due. The caller tells a live entry
//! from a settled one by the order's state.

use std::collections::{BTreeSet, HashMap, VecDeque};

use ahash::RandomState;

use super::OrderId;

#[derive(Debug, Default, Clone)]
pub struct Deadlines {
    /// Hold length (ms) -> (deadline ms, order), earliest first.
    queues: HashMap<u64, VecDeque<(u64, OrderId)>, RandomState>,
    /// (front deadline, hold length) of every non-empty queue.
    fronts: BTreeSet<(u64, u64)>,
}

impl Deadlines {
    pub fn push(&mut self, hold_ms: u64, deadline_ms: u64, id: OrderId) {
        let entry = (deadline_ms, id);
        let queue = self.queues.entry(hold_ms).or_default();
        let old_front = queue.front().map(|&(front, _)| front);
        // Only the deadline orders entries: ties stay in arrival order, so the common push is
        // an append even when orders of many slots share a millisecond.
        match queue.back() {
            Some(&(back, _)) if back > deadline_ms => {
                let at = queue.partition_point(|&(d, _)| d <= deadline_ms);
                queue.insert(at, entry);
            }
            _ => queue.push_back(entry),
        }
        if old_front != Some(queue[0].0) {
            if let Some(front) = old_front {
                self.fronts.remove(&(front, hold_ms));
            }
            self.fronts.insert((queue[0].0, hold_ms));
        }
    }

    /// The earliest entry, which may belong to a settled order.
    pub fn first(&self) -> Option<(u64, OrderId)> {
        let &(_, hold_ms) = self.fronts.first()?;
        self.queues.get(&hold_ms)?.front().copied()
    }

    /// Removes and returns the earliest entry.
    pub fn pop_first(&mut self) -> Option<(u64, OrderId)> {
        let (front, hold_ms) = self.fronts.pop_first()?;
        let queue = self.queues.get_mut(&hold_ms)?;
        let entry = queue.pop_front();
        match queue.front() {
            Some(&(next, _)) => {
                self.fronts.insert((next, hold_ms));
            }
            // Emptied queues go, so SKUs with many different holds leave nothing behind.
            None => {
                self.queues.remove(&hold_ms);
            }
        }
        debug_assert_eq!(entry.map(|(deadline, _)| deadline), Some(front));
        entry
    }

    /// Every entry, queue by queue.
    pub fn iter(&self) -> impl Iterator<Item = (u64, OrderId)> + '_ {
        self.queues.values().flatten().copied()
    }

    /// Whether every queue is sorted and the front index matches the queues.
    pub fn is_consistent(&self) -> bool {
        let sorted = self
            .queues
            .values()
            .all(|q| !q.is_empty() && q.iter().zip(q.iter().skip(1)).all(|(a, b)| a.0 <= b.0));
        let fronts: BTreeSet<(u64, u64)> = self.queues.iter().map(|(&hold, q)| (q[0].0, hold)).collect();
        sorted && fronts == self.fronts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(seq: u64) -> OrderId {
        OrderId { slot: 1, seq }
    }

    #[test]
    fn the_earliest_comes_first_across_hold_lengths() {
        let mut d = Deadlines::default();
        d.push(900, 1_900, id(1));
        d.push(60, 1_060, id(2));
        d.push(900, 2_000, id(3));
        d.push(60, 1_200, id(4));
        assert_eq!(d.first(), Some((1_060, id(2))));
        let order: Vec<u64> = std::iter::from_fn(|| d.pop_first()).map(|(_, id)| id.seq).collect();
        assert_eq!(order, [2, 4, 1, 3]);
        assert!(d.first().is_none() && d.queues.is_empty() && d.fronts.is_empty());
    }

    #[test]
    fn a_clock_stepping_back_still_keeps_each_queue_sorted() {
        let mut d = Deadlines::default();
        d.push(100, 5_000, id(1));
        d.push(100, 5_100, id(2));
        d.push(100, 4_000, id(3)); // the clock went back a second
        d.push(100, 5_050, id(4));
        assert!(d.is_consistent());
        let order: Vec<u64> = std::iter::from_fn(|| d.pop_first()).map(|(_, id)| id.seq).collect();
        assert_eq!(order, [3, 1, 4, 2]);
    }
}
