//! The order store in PostgreSQL: versioned migrations, and a batch of events applied as one
//! transaction together with the consumer's next offset per partition. Since the offsets
//! commit with the rows, a crash anywhere replays only what did not commit; and every effect
//! is written so that an event delivered twice (the relay publishes at least once) changes
//! nothing the second time: an order's state only moves forward out of `reserved`, and the
//! ledger moves with that one transition.

use std::collections::{BTreeMap, HashSet};

use postgres::{Client, NoTls, Statement};

use super::order_event::{OrderEvent, SinkEvent};

/// The migrations, in order; each runs once, in its own transaction, recorded in
/// `schema_migrations`.
const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("migrations/0001_orders.sql"))];

/// Serializes migrations between sinks starting at once.
const MIGRATION_LOCK: i64 = 0x5348_5542_5349_4e4b; // "SHUBSINK"

/// One consumed record, parsed.
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub event: SinkEvent,
}

struct Statements {
    reserve: Statement,
    ledger_rows: Statement,
    settle: Statement,
    refund: Statement,
    unmatched: Statement,
    offset: Statement,
}

pub struct Store {
    client: Client,
    statements: Statements,
}

impl Store {
    /// Connects, applies pending migrations, and prepares the statements.
    pub fn open(url: &str) -> Result<Store, postgres::Error> {
        let mut client = Client::connect(url, NoTls)?;
        migrate(&mut client)?;
        let statements = prepare(&mut client)?;
        Ok(Store { client, statements })
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Where the sink stands in each partition of `topic`.
    pub fn offsets(&mut self, topic: &str) -> Result<BTreeMap<i32, i64>, postgres::Error> {
        let rows = self.client.query(
            "select partition, next_offset from sink_offsets where topic = $1",
            &[&topic],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Applies a batch and its offsets in one transaction, a few statements per batch (not
    /// per event): the reservations, the ledger rows, the settlements, the refunds, the
    /// unmatched payments, then the offsets. Within a batch an order's reservation comes before
    /// its settlement, and a record delivered twice counts once (the first).
    pub fn apply(&mut self, topic: &str, batch: &[Consumed]) -> Result<(), postgres::Error> {
        let columns = Columns::of(batch);
        let s = &self.statements;
        let mut tx = self.client.transaction()?;
        let r = &columns.reserved;
        tx.execute(
            &s.reserve,
            &[
                &r.order_id,
                &r.sku,
                &r.user,
                &r.qty,
                &r.at_ms,
                &r.expires_ms,
                &r.event_id,
            ],
        )?;
        tx.execute(&s.ledger_rows, &[&columns.skus])?;
        let t = &columns.settled;
        tx.execute(
            &s.settle,
            &[&t.order_id, &t.state, &t.at_ms, &t.payment_id, &t.amount, &t.event_id],
        )?;
        for (statement, p) in [(&s.refund, &columns.refunds), (&s.unmatched, &columns.unmatched)] {
            tx.execute(
                statement,
                &[&p.payment_id, &p.order_id, &p.amount, &p.state, &p.at_ms, &p.event_id],
            )?;
        }
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for c in batch {
            let n = next.entry(c.partition).or_insert(0);
            *n = (*n).max(c.offset + 1);
        }
        for (partition, offset) in next {
            tx.execute(&s.offset, &[&topic, &partition, &offset])?;
        }
        tx.commit()
    }
}

/// Orders' rows of a batch, as arrays (one per column) for `unnest`.
#[derive(Default)]
struct OrderColumns {
    order_id: Vec<Option<String>>,
    sku: Vec<Option<String>>,
    user: Vec<Option<String>>,
    qty: Vec<Option<i32>>,
    at_ms: Vec<Option<i64>>,
    expires_ms: Vec<Option<i64>>,
    event_id: Vec<String>,
}

#[derive(Default)]
struct SettleColumns {
    order_id: Vec<Option<String>>,
    state: Vec<String>,
    at_ms: Vec<Option<i64>>,
    payment_id: Vec<Option<String>>,
    amount: Vec<Option<i64>>,
    event_id: Vec<String>,
}

/// Refunds and unmatched payments; `state` is the refund's order state or the payment's
/// status.
#[derive(Default)]
struct PaymentColumns {
    payment_id: Vec<Option<String>>,
    order_id: Vec<Option<String>>,
    amount: Vec<i64>,
    state: Vec<Option<String>>,
    at_ms: Vec<i64>,
    event_id: Vec<String>,
}

#[derive(Default)]
struct Columns {
    reserved: OrderColumns,
    skus: Vec<String>,
    settled: SettleColumns,
    refunds: PaymentColumns,
    unmatched: PaymentColumns,
}

impl Columns {
    fn of(batch: &[Consumed]) -> Columns {
        let mut c = Columns::default();
        let mut reserved = HashSet::new();
        let mut settled = HashSet::new();
        let mut skus = HashSet::new();
        for event in batch.iter().map(|c| &c.event) {
            match event {
                SinkEvent::Reserved(e) => c.reserve(e, &mut reserved, &mut skus),
                SinkEvent::Settled(e) => {
                    // A settlement whose reservation this sink never saw creates the order.
                    c.reserve(e, &mut reserved, &mut skus);
                    if settled.insert(e.order_id.clone()) {
                        let t = &mut c.settled;
                        t.order_id.push(e.order_id.clone());
                        t.state.push(e.kind.clone());
                        t.at_ms.push(e.at_ms);
                        t.payment_id.push(e.payment_id.clone());
                        t.amount.push(e.amount);
                        t.event_id.push(e.event_id.clone());
                    }
                }
                SinkEvent::Refund(e) => c.refunds.push(e, e.state.clone()),
                SinkEvent::Unmatched(e) => c.unmatched.push(e, e.status.clone()),
                SinkEvent::Skip => {}
            }
        }
        c.skus = skus.into_iter().collect();
        c
    }

    /// The order's row as a reservation, once per batch.
    fn reserve(&mut self, e: &OrderEvent, seen: &mut HashSet<Option<String>>, skus: &mut HashSet<String>) {
        if !seen.insert(e.order_id.clone()) {
            return;
        }
        let r = &mut self.reserved;
        r.order_id.push(e.order_id.clone());
        r.sku.push(e.sku.clone());
        r.user.push(e.user.clone());
        r.qty.push(e.qty);
        r.at_ms.push(if e.kind == "reserved" { e.at_ms } else { None });
        r.expires_ms.push(e.expires_ms);
        r.event_id.push(e.event_id.clone());
        skus.extend(e.sku.clone());
    }
}

impl PaymentColumns {
    fn push(&mut self, e: &OrderEvent, state: Option<String>) {
        self.payment_id.push(e.payment_id.clone());
        self.order_id.push(e.order_id.clone());
        self.amount.push(e.amount.unwrap_or(0));
        self.state.push(state);
        self.at_ms.push(e.at_ms.unwrap_or(0));
        self.event_id.push(e.event_id.clone());
    }
}

fn prepare(client: &mut Client) -> Result<Statements, postgres::Error> {
    Ok(Statements {
        reserve: client.prepare(
            "insert into orders (order_id, sku, user_id, qty, state, reserved_ms, expires_ms, last_event_id)
             select order_id, sku, user_id, qty, 'reserved', reserved_ms, expires_ms, event_id
             from unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int8[], $6::int8[], $7::text[])
               as u(order_id, sku, user_id, qty, reserved_ms, expires_ms, event_id)
             on conflict (order_id) do update set
               sku = coalesce(orders.sku, excluded.sku),
               user_id = coalesce(orders.user_id, excluded.user_id),
               qty = coalesce(orders.qty, excluded.qty),
               reserved_ms = coalesce(orders.reserved_ms, excluded.reserved_ms),
               expires_ms = coalesce(orders.expires_ms, excluded.expires_ms)",
        )?,
        ledger_rows: client.prepare("insert into sku_ledger (sku) select unnest($1::text[]) on conflict do nothing")?,
        // Only an order still reserved moves; the ledger takes the units of those that moved
        // to paid, summed per SKU.
        settle: client.prepare(
            "with u as (
               select * from unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::text[])
                 as u(order_id, state, at_ms, payment_id, amount, event_id)),
             moved as (
               update orders o set state = u.state, settled_ms = u.at_ms, payment_id = u.payment_id,
                 amount = u.amount, last_event_id = u.event_id
               from u where o.order_id = u.order_id and o.state = 'reserved'
               returning o.sku, o.qty, o.state),
             sums as (
               select sku, sum(qty)::int8 as units, count(*)::int8 as orders
               from moved where state = 'paid' group by sku)
             update sku_ledger l set sold = l.sold + s.units, paid_orders = l.paid_orders + s.orders
             from sums s where l.sku = s.sku",
        )?,
        refund: client.prepare(
            "insert into refunds (payment_id, order_id, amount, state, at_ms, event_id)
             select * from unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::text[])
             on conflict do nothing",
        )?,
        unmatched: client.prepare(
            "insert into unmatched_payments (payment_id, order_id, amount, status, at_ms, event_id)
             select * from unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::text[])
             on conflict do nothing",
        )?,
        offset: client.prepare(
            "insert into sink_offsets (topic, partition, next_offset) values ($1, $2, $3)
             on conflict (topic, partition) do update set next_offset = excluded.next_offset",
        )?,
    })
}

/// Applies the migrations not yet recorded, each in its own transaction, under an advisory
/// lock so that two sinks starting together do not race.
fn migrate(client: &mut Client) -> Result<(), postgres::Error> {
    client.execute("select pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = (|| {
        client.batch_execute(
            "create table if not exists schema_migrations (
               version integer primary key, applied_at timestamptz not null default now())",
        )?;
        for (version, sql) in MIGRATIONS {
            let done = client
                .query_opt("select 1 from schema_migrations where version = $1", &[version])?
                .is_some();
            if done {
                continue;
            }
            let mut tx = client.transaction()?;
            tx.batch_execute(sql)?;
            tx.execute("insert into schema_migrations (version) values ($1)", &[version])?;
            tx.commit()?;
            tracing::info!(version, "order store migrated");
        }
        Ok(())
    })();
    client.execute("select pg_advisory_unlock($1)", &[&MIGRATION_LOCK])?;
    result
}
