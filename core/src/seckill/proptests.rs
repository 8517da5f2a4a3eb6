//! Property tests: random sequences of every command, with time passing, expiry passes and
//! restarts (from the event log, and from a snapshot plus the log after it). After each step
//! the no-oversell equations must hold, and a restarted inventory must equal the live one.

use bytes::Bytes;
use proptest::prelude::*;

use super::inventory::UNITS_MAX;
use super::*;
use crate::error::SeckillError;

const LIMITS: InventoryLimits = InventoryLimits {
    skus_max: 8,
    orders_max: 10_000,
    qty_max: 4,
};
const SKUS: usize = 3;
const USERS: usize = 4;

#[derive(Debug, Clone)]
enum Step {
    Set {
        sku: usize,
        total: u64,
        limit: u64,
        hold_ms: u64,
    },
    Add {
        sku: usize,
        delta: i64,
    },
    Buy {
        sku: usize,
        user: usize,
        qty: u32,
        reqid: Option<u8>,
    },
    Pay(usize),
    Cancel(usize),
    /// A payment event: for a known order (by index) or an unknown one, with a payment id
    /// from a small set so that some arrive twice.
    Payment {
        order: Option<usize>,
        payment: u8,
        succeeded: bool,
    },
    Tick(u64),
    Expire,
    /// Orders settled more than this long ago may leave memory (all counted as published).
    Archive(u64),
    RestartFromLog,
    RestartFromSnapshot,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (0..SKUS, 0u64..12, 0u64..4, 1u64..50)
            .prop_map(|(sku, total, limit, hold_ms)| Step::Set { sku, total, limit, hold_ms }),
        // Near the top of the range a count may hold, and past it.
        1 => (0..SKUS, prop_oneof![Just(UNITS_MAX), Just(UNITS_MAX - 3), Just(UNITS_MAX + 1), Just(u64::MAX)], 0u64..4, 1u64..50)
            .prop_map(|(sku, total, limit, hold_ms)| Step::Set { sku, total, limit, hold_ms }),
        1 => (0..SKUS, -6i64..8).prop_map(|(sku, delta)| Step::Add { sku, delta }),
        1 => (0..SKUS, prop_oneof![Just(i64::MAX), Just(i64::MAX - 5), Just(i64::MIN), Just(i64::MIN + 1)])
            .prop_map(|(sku, delta)| Step::Add { sku, delta }),
        8 => (0..SKUS, 0..USERS, 0u32..6, proptest::option::of(0u8..3))
            .prop_map(|(sku, user, qty, reqid)| Step::Buy { sku, user, qty, reqid }),
        3 => any::<prop::sample::Index>().prop_map(|i| Step::Pay(i.index(1 << 16))),
        2 => any::<prop::sample::Index>().prop_map(|i| Step::Cancel(i.index(1 << 16))),
        3 => (proptest::option::weighted(0.9, any::<prop::sample::Index>()), 0u8..6, any::<bool>())
            .prop_map(|(order, payment, succeeded)| Step::Payment { order: order.map(|i| i.index(1 << 16)), payment, succeeded }),
        3 => (0u64..30).prop_map(Step::Tick),
        2 => Just(Step::Expire),
        2 => (0u64..40).prop_map(Step::Archive),
        1 => Just(Step::RestartFromLog),
        1 => Just(Step::RestartFromSnapshot),
    ]
}

fn name(prefix: &str, i: usize) -> Bytes {
    Bytes::from(format!("{prefix}{i}"))
}

struct Harness {
    live: Inventory,
    /// Every event since the start.
    log: Vec<Event>,
    /// A snapshot and how many events of `log` it covers.
    snapshot: Option<(Vec<u8>, usize)>,
    ids: Vec<OrderId>,
    now_ms: u64,
}

impl Harness {
    fn payment(&mut self, order: Option<usize>, payment: u8, succeeded: bool) -> Result<(), TestCaseError> {
        let id = match order {
            Some(i) if !self.ids.is_empty() => self.ids[i % self.ids.len()],
            _ => OrderId { slot: 9999, seq: 1 },
        };
        let payment = PaymentRef {
            id: name("pay", usize::from(payment)),
            amount: 100,
        };
        let was = self.live.order(id).cloned();
        let stock_was: Vec<_> = (0..SKUS).map(|s| self.live.stock(&name("sku", s))).collect();
        let outcome = self.live.payment(id, payment, succeeded, self.now_ms, &mut self.log);
        let now = self.live.order(id).map(|o| o.state);
        let live = was.as_ref().map(|o| {
            if o.state == OrderState::Reserved && self.now_ms >= o.expires_ms {
                OrderState::Expired
            } else {
                o.state
            }
        });
        match outcome {
            PaymentOutcome::Paid => prop_assert!(live == Some(OrderState::Reserved) && now == Some(OrderState::Paid)),
            PaymentOutcome::Cancelled => {
                prop_assert!(live == Some(OrderState::Reserved) && now == Some(OrderState::Cancelled))
            }
            PaymentOutcome::RefundRequired => {
                prop_assert!(succeeded && live.is_some_and(|s| s != OrderState::Reserved));
                prop_assert_eq!(now, live, "a refund changes no order");
            }
            PaymentOutcome::Unmatched => prop_assert!(was.is_none()),
            // A payment seen before is not looked at again: nothing changes.
            PaymentOutcome::Duplicate => {
                prop_assert_eq!(now, was.map(|o| o.state));
                let stock_now: Vec<_> = (0..SKUS).map(|s| self.live.stock(&name("sku", s))).collect();
                prop_assert_eq!(stock_now, stock_was, "a repeated payment changes no stock");
            }
            // A failure for a settled order: nothing changes but what the clock did (an
            // overdue order expires first).
            PaymentOutcome::Ignored => prop_assert!(!succeeded && now == live),
        }
        Ok(())
    }

    fn run(&mut self, step: Step) -> Result<(), TestCaseError> {
        let before = self.log.len();
        match step {
            Step::Set {
                sku,
                total,
                limit,
                hold_ms,
            } => {
                let was = self.live.stock(&name("sku", sku));
                match self
                    .live
                    .set_stock(name("sku", sku), total, limit, hold_ms, &mut self.log)
                {
                    Ok(()) => prop_assert!(total <= UNITS_MAX),
                    Err(SeckillError::Overflow) => {
                        prop_assert!(total > UNITS_MAX);
                        prop_assert_eq!(self.live.stock(&name("sku", sku)), was, "a refusal changes nothing");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Step::Add { sku, delta } => {
                let was = self.live.stock(&name("sku", sku));
                match self.live.add_stock(name("sku", sku), delta, &mut self.log) {
                    Ok(available) => {
                        prop_assert_eq!(Some(available), self.live.stock(&name("sku", sku)).map(|s| s.available))
                    }
                    Err(SeckillError::NoSku) => prop_assert!(was.is_none()),
                    Err(SeckillError::BelowZero) => {
                        prop_assert!(i128::from(was.unwrap().available) + i128::from(delta) < 0);
                        prop_assert_eq!(self.live.stock(&name("sku", sku)), was, "a refusal changes nothing");
                    }
                    Err(SeckillError::Overflow) => {
                        let w = was.unwrap();
                        prop_assert!(i128::from(w.total) + i128::from(delta) > i128::from(UNITS_MAX));
                        prop_assert_eq!(self.live.stock(&name("sku", sku)), was, "a refusal changes nothing");
                    }
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
            }
            Step::Buy { sku, user, qty, reqid } => {
                let key = name("sku", sku);
                let was = self.live.stock(&key);
                let buy = Buy {
                    sku: key.clone(),
                    user: name("user", user),
                    qty,
                    reqid: reqid.map(|r| name("req", usize::from(r))),
                    slot: sku as u16,
                };
                match self.live.buy(buy, self.now_ms, &mut self.log) {
                    Ok(bought) if bought.created => {
                        prop_assert!(!self.ids.contains(&bought.id), "id handed out twice");
                        self.ids.push(bought.id);
                        let o = self.live.order(bought.id).unwrap();
                        prop_assert_eq!(o.qty, qty);
                        prop_assert_eq!(o.state, OrderState::Reserved);
                    }
                    Ok(bought) => {
                        prop_assert!(self.ids.contains(&bought.id), "a REQID retry returns a known id");
                        prop_assert_eq!(self.live.stock(&key), was, "a retry reserves nothing");
                    }
                    Err(SeckillError::SoldOut) => prop_assert!(was.unwrap().available < u64::from(qty)),
                    Err(SeckillError::NoSku) => prop_assert!(was.is_none()),
                    Err(SeckillError::BadQty) => prop_assert!(qty == 0 || qty > LIMITS.qty_max),
                    Err(SeckillError::Limit | SeckillError::ReqidMismatch) => {}
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
            }
            Step::Pay(i) | Step::Cancel(i) if self.ids.is_empty() => {
                let _ = i;
            }
            Step::Pay(i) | Step::Cancel(i) if self.live.is_archived(self.ids[i % self.ids.len()]) => {
                let id = self.ids[i % self.ids.len()];
                let result = match step {
                    Step::Pay(_) => self.live.pay(id, self.now_ms, &mut self.log),
                    _ => self.live.cancel(id, self.now_ms, &mut self.log),
                };
                prop_assert_eq!(result, Err(SeckillError::Archived));
            }
            Step::Pay(i) => {
                let id = self.ids[i % self.ids.len()];
                let was = self.live.order(id).unwrap().clone();
                let result = self.live.pay(id, self.now_ms, &mut self.log);
                let now = self.live.order(id).unwrap();
                match result {
                    Ok(()) => prop_assert_eq!(now.state, OrderState::Paid),
                    Err(SeckillError::Expired) => prop_assert_eq!(now.state, OrderState::Expired),
                    Err(SeckillError::Cancelled) => prop_assert_eq!(was.state, OrderState::Cancelled),
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
                if was.state == OrderState::Reserved && self.now_ms < was.expires_ms {
                    prop_assert_eq!(now.state, OrderState::Paid);
                }
            }
            Step::Cancel(i) => {
                let id = self.ids[i % self.ids.len()];
                let was = self.live.order(id).unwrap().clone();
                let result = self.live.cancel(id, self.now_ms, &mut self.log);
                match result {
                    Ok(()) => prop_assert_eq!(self.live.order(id).unwrap().state, OrderState::Cancelled),
                    Err(SeckillError::Paid) => prop_assert_eq!(was.state, OrderState::Paid),
                    Err(SeckillError::Expired) => {
                        prop_assert_eq!(self.live.order(id).unwrap().state, OrderState::Expired)
                    }
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
            }
            Step::Payment {
                order,
                payment,
                succeeded,
            } => self.payment(order, payment, succeeded)?,
            Step::Tick(ms) => self.now_ms += ms,
            Step::Expire => {
                self.live.expire_due(self.now_ms, usize::MAX, &mut self.log);
                prop_assert!(self.live.next_deadline_ms().is_none_or(|d| d > self.now_ms));
                for o in self.ids.iter().filter_map(|&id| self.live.order(id)) {
                    prop_assert!(
                        o.state != OrderState::Reserved || o.expires_ms > self.now_ms,
                        "{} overdue",
                        o.expires_ms
                    );
                }
            }
            Step::Archive(keep_ms) => {
                let before = self.now_ms.saturating_sub(keep_ms);
                let was = self.live.orders_len();
                let gone = self.live.archive(before, usize::MAX, |_, _| true);
                prop_assert_eq!(
                    self.live.orders_len(),
                    was - gone.len() * super::order_book::CHUNK_ORDERS
                );
                for &id in &self.ids {
                    match self.live.order(id) {
                        Some(_) => prop_assert!(!self.live.is_archived(id)),
                        None => prop_assert!(self.live.is_archived(id), "{id} neither live nor archived"),
                    }
                }
            }
            Step::RestartFromLog => {
                let mut replayed = Inventory::new(LIMITS);
                for event in &self.log {
                    replayed.apply(event.clone())?;
                }
                // The log holds archived orders too: a restart from it has them all back.
                prop_assert!(
                    replayed.same_live_state(&self.live),
                    "replay differs from the live state"
                );
                for &id in &self.ids {
                    if self.live.is_archived(id) {
                        prop_assert!(replayed.order(id).is_some_and(|o| o.state != OrderState::Reserved));
                    }
                }
                self.live = replayed;
            }
            Step::RestartFromSnapshot => {
                let mut restored = match &self.snapshot {
                    Some((bytes, _)) => Inventory::restore(bytes, LIMITS).unwrap(),
                    None => Inventory::new(LIMITS),
                };
                let covered = self.snapshot.as_ref().map_or(0, |(_, n)| *n);
                for event in &self.log[covered..] {
                    restored.apply(event.clone())?;
                }
                // Orders archived since the snapshot are back in memory: the owner archives
                // them again. With nothing archived since, the state is the same exactly.
                if restored.archived_len() == self.live.archived_len() {
                    prop_assert!(restored.same_state(&self.live), "snapshot + replay differs");
                } else {
                    prop_assert!(restored.same_live_state(&self.live), "snapshot + replay differs");
                }
                self.live = restored;
                self.snapshot = Some((self.live.snapshot(), self.log.len()));
            }
        }
        // Encoded events decode to themselves: what the log stores is what replay applies.
        for event in &self.log[before..] {
            let mut bytes = Vec::new();
            event.encode(&mut bytes);
            prop_assert_eq!(&Event::decode(&bytes).unwrap(), event);
        }
        self.live.take_soldout_changes().for_each(drop);
        if let Err(broken) = self.live.check_invariants() {
            prop_assert!(false, "{}", broken);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn never_oversells_and_replays_exactly(steps in prop::collection::vec(step(), 1..120)) {
        let mut h = Harness { live: Inventory::new(LIMITS), log: Vec::new(), snapshot: None, ids: Vec::new(), now_ms: 1_000 };
        for step in steps {
            h.run(step)?;
        }
    }
}

#[test]
fn a_refused_buy_changes_nothing_and_logs_nothing() {
    let mut inv = Inventory::new(LIMITS);
    let mut log = Vec::new();
    inv.set_stock(name("sku", 0), 1, 1, 1000, &mut log).unwrap();
    let buy = |user: &str, qty| Buy {
        sku: name("sku", 0),
        user: Bytes::from(user.to_string()),
        qty,
        reqid: None,
        slot: 0,
    };
    inv.buy(buy("a", 1), 0, &mut log).unwrap();
    let logged = log.len();
    assert_eq!(inv.buy(buy("a", 1), 0, &mut log), Err(SeckillError::SoldOut));
    assert_eq!(inv.buy(buy("b", 0), 0, &mut log), Err(SeckillError::BadQty));
    assert_eq!(log.len(), logged);
    inv.add_stock(name("sku", 0), 5, &mut log).unwrap();
    assert_eq!(inv.buy(buy("a", 1), 0, &mut log), Err(SeckillError::Limit));
}

#[test]
fn sold_out_changes_are_reported_on_each_flip() {
    let mut inv = Inventory::new(LIMITS);
    let mut log = Vec::new();
    inv.set_stock(name("sku", 0), 1, 0, 10, &mut log).unwrap();
    assert_eq!(
        inv.take_soldout_changes().collect::<Vec<_>>(),
        vec![(name("sku", 0), false)]
    );
    let bought = inv
        .buy(
            Buy {
                sku: name("sku", 0),
                user: name("user", 0),
                qty: 1,
                reqid: None,
                slot: 3,
            },
            100,
            &mut log,
        )
        .unwrap();
    assert_eq!(bought.id.to_string(), "3-1");
    assert_eq!(
        inv.take_soldout_changes().collect::<Vec<_>>(),
        vec![(name("sku", 0), true)]
    );
    assert_eq!(inv.expire_due(109, 10, &mut log), 0);
    assert_eq!(inv.expire_due(110, 10, &mut log), 1);
    assert_eq!(
        inv.take_soldout_changes().collect::<Vec<_>>(),
        vec![(name("sku", 0), false)]
    );
    assert_eq!(inv.order(bought.id).unwrap().state, OrderState::Expired);
}

/// A log written before `Settled` existed settles orders with `Paid`, `Cancelled` and
/// `Expired`: replayed, it gives the same state as the same history logged today, and a
/// settlement naming another order's SKU or quantity is refused.
#[test]
fn settlements_logged_the_old_way_replay_the_same() {
    let mut live = Inventory::new(LIMITS);
    let mut log = Vec::new();
    live.set_stock(name("sku", 0), 10, 0, 1000, &mut log).unwrap();
    let mut ids = Vec::new();
    for user in 0..3 {
        let buy = Buy {
            sku: name("sku", 0),
            user: name("user", user),
            qty: 2,
            reqid: None,
            slot: 1,
        };
        ids.push(live.buy(buy, 0, &mut log).unwrap().id);
    }
    live.pay(ids[0], 1, &mut log).unwrap();
    live.cancel(ids[1], 2, &mut log).unwrap();
    assert_eq!(live.expire_due(1000, 10, &mut log), 1);
    let old_way: Vec<Event> = log
        .iter()
        .map(|e| match e.clone() {
            Event::Settled { id, to, at_ms, .. } => match to {
                Settlement::Paid => Event::Paid { id, at_ms },
                Settlement::Cancelled => Event::Cancelled { id, at_ms },
                Settlement::Expired => Event::Expired { id, at_ms },
            },
            other => other,
        })
        .collect();
    assert_eq!(log.iter().filter(|e| matches!(e, Event::Settled { .. })).count(), 3);
    let mut replayed = Inventory::new(LIMITS);
    for e in old_way {
        replayed.apply(e).unwrap();
    }
    assert_eq!(replayed.snapshot(), live.snapshot());

    let mut wrong = Inventory::new(LIMITS);
    for e in &log[..4] {
        wrong.apply(e.clone()).unwrap();
    }
    let bad = Event::Settled {
        id: ids[0],
        to: Settlement::Paid,
        sku: name("sku", 0),
        user: name("user", 0),
        qty: 1,
        at_ms: 1,
        payment: None,
    };
    assert!(matches!(wrong.apply(bad), Err(SeckillError::Inconsistent(_))));
}
