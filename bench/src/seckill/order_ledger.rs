//! The order ids one connection was handed, with the SKU each was bought from: what the
//! final audit compares with the server's stock counts.
//!
//! Ids are appended to one growing byte buffer rather than kept as one allocation each, so
//! recording an accepted BUY costs the client a copy of a few bytes. Memory is bounded by
//! what the server accepted (a SKU's stock, or the run's BUYs), as the harness's brief allows.

use std::collections::HashSet;

#[derive(Debug, Default)]
pub struct OrderLedger {
    id_bytes: Vec<u8>,
    /// Per order: where its id ends in `id_bytes` (it starts where the previous one ends)
    /// and its SKU's index.
    orders: Vec<(usize, u32)>,
}

impl OrderLedger {
    /// Records an order; returns its index in this ledger.
    pub fn push(&mut self, sku: u32, id: &[u8]) -> usize {
        self.id_bytes.extend_from_slice(id);
        self.orders.push((self.id_bytes.len(), sku));
        self.orders.len() - 1
    }

    pub fn sku(&self, index: usize) -> u32 {
        self.orders[index].1
    }

    pub fn id(&self, index: usize) -> &[u8] {
        let start = match index {
            0 => 0,
            _ => self.orders[index - 1].0,
        };
        &self.id_bytes[start..self.orders[index].0]
    }

    fn iter(&self) -> impl Iterator<Item = (u32, &[u8])> {
        (0..self.orders.len()).map(|i| (self.sku(i), self.id(i)))
    }
}

/// The ledgers of all connections, checked against each other.
#[derive(Debug, PartialEq, Eq)]
pub struct LedgerAudit {
    /// Per SKU: distinct order ids received for it.
    pub distinct_by_sku: Vec<u64>,
    /// Ids received more than once (each repeat counted once).
    pub duplicates: u64,
    /// The first repeated id, to name in the report.
    pub first_duplicate: Option<String>,
}

impl LedgerAudit {
    pub fn of(ledgers: &[OrderLedger], skus: usize) -> Self {
        let mut seen: HashSet<&[u8]> = HashSet::new();
        let mut audit = Self {
            distinct_by_sku: vec![0; skus],
            duplicates: 0,
            first_duplicate: None,
        };
        for (sku, id) in ledgers.iter().flat_map(OrderLedger::iter) {
            if seen.insert(id) {
                audit.distinct_by_sku[sku as usize] += 1;
            } else {
                audit.duplicates += 1;
                audit
                    .first_duplicate
                    .get_or_insert_with(|| String::from_utf8_lossy(id).into_owned());
            }
        }
        audit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_returns_what_was_pushed() {
        let mut ledger = OrderLedger::default();
        assert_eq!(ledger.push(2, b"1-1"), 0);
        assert_eq!(ledger.push(0, b"12182-17"), 1);
        assert_eq!((ledger.sku(0), ledger.id(0)), (2, &b"1-1"[..]));
        assert_eq!((ledger.sku(1), ledger.id(1)), (0, &b"12182-17"[..]));
    }

    #[test]
    fn audit_counts_distinct_ids_per_sku_and_repeats_across_connections() {
        let mut a = OrderLedger::default();
        a.push(0, b"1-1");
        a.push(1, b"2-1");
        let mut b = OrderLedger::default();
        b.push(0, b"1-2");
        b.push(0, b"1-1");
        let audit = LedgerAudit::of(&[a, b], 3);
        assert_eq!(audit.distinct_by_sku, [2, 1, 0]);
        assert_eq!(audit.duplicates, 1);
        assert_eq!(audit.first_duplicate.as_deref(), Some("1-1"));
    }
}
