//! The packet identifiers a QoS 1 publisher has in flight: handed out in increasing order
//! (wrapping past 65535 to 1, as ids are never 0), skipping any still unacknowledged, and
//! given back by the PUBACK that names them.
//!
//! A bit per id (8 KiB) rather than a map: O(1) both ways, no allocation per message.

use std::num::NonZeroU16;

use shardhub_net::mqtt::PacketId;

const WORDS: usize = 65_536 / 64;

pub struct PacketIdPool {
    in_use: Box<[u64; WORDS]>,
    next: u16,
    in_flight: usize,
}

impl Default for PacketIdPool {
    fn default() -> Self {
        Self {
            in_use: Box::new([0; WORDS]),
            next: 1,
            in_flight: 0,
        }
    }
}

impl PacketIdPool {
    /// A free id, or `None` when all 65,535 are in flight.
    pub fn take(&mut self) -> Option<PacketId> {
        if self.in_flight == usize::from(u16::MAX) {
            return None;
        }
        loop {
            let id = self.next;
            self.next = if id == u16::MAX { 1 } else { id + 1 };
            if !self.is_in_use(id) {
                self.set(id, true);
                self.in_flight += 1;
                return NonZeroU16::new(id);
            }
        }
    }

    /// Gives `id` back; `false` if it was not in flight (an acknowledgement for something
    /// never sent, or sent twice).
    pub fn release(&mut self, id: PacketId) -> bool {
        let id = id.get();
        if !self.is_in_use(id) {
            return false;
        }
        self.set(id, false);
        self.in_flight -= 1;
        true
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn is_in_use(&self, id: u16) -> bool {
        self.in_use[usize::from(id) / 64] & (1 << (id % 64)) != 0
    }

    fn set(&mut self, id: u16, used: bool) {
        let word = &mut self.in_use[usize::from(id) / 64];
        if used {
            *word |= 1 << (id % 64);
        } else {
            *word &= !(1 << (id % 64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> PacketId {
        NonZeroU16::new(n).unwrap()
    }

    #[test]
    fn hands_out_in_order_from_one() {
        let mut pool = PacketIdPool::default();
        assert_eq!(pool.take(), Some(id(1)));
        assert_eq!(pool.take(), Some(id(2)));
        assert_eq!(pool.in_flight(), 2);
        assert!(pool.release(id(1)));
        assert!(!pool.release(id(1)), "released twice");
        assert!(!pool.release(id(9)), "never taken");
        assert_eq!(pool.in_flight(), 1);
    }

    #[test]
    fn wraps_past_the_top_and_skips_ids_in_flight() {
        let mut pool = PacketIdPool::default();
        let first = pool.take().unwrap();
        for _ in 2..=u16::MAX {
            let taken = pool.take().unwrap();
            assert!(pool.release(taken));
        }
        // 1 is still in flight: the wrap skips it.
        assert_eq!(pool.take(), Some(id(2)));
        assert!(pool.release(first));
        assert_eq!(pool.in_flight(), 1);
    }

    #[test]
    fn runs_out_at_65535_in_flight() {
        let mut pool = PacketIdPool::default();
        for _ in 0..u16::MAX {
            assert!(pool.take().is_some());
        }
        assert_eq!(pool.take(), None);
        assert!(pool.release(id(40_000)));
        assert_eq!(pool.take(), Some(id(40_000)));
    }
}
