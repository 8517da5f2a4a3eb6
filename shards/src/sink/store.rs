//! The order store in PostgreSQL: versioned migrations, and a batch of events applied as one
//! transaction together with the consumer's next offset per partition. Since the offsets
//! commit with the rows, a crash anywhere replays only what did not commit; and every effect
//! is written so that an event delivered twice (the relay publishes at least once) changes
//! nothing the second time: an order's state only moves forward out of `reserved`, and the
//! ledger moves with that one transition.

use std::collections::BTreeMap;

use postgres::{Client, NoTls, Statement, Transaction};

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
    ledger_row: Statement,
    ensure_order: Statement,
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

    /// Applies a batch and its offsets in one transaction.
    pub fn apply(&mut self, topic: &str, batch: &[Consumed]) -> Result<(), postgres::Error> {
        let s = &self.statements;
        let mut tx = self.client.transaction()?;
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for c in batch {
            apply_one(&mut tx, s, &c.event)?;
            let n = next.entry(c.partition).or_insert(0);
            *n = (*n).max(c.offset + 1);
        }
        for (partition, offset) in next {
            tx.execute(&s.offset, &[&topic, &partition, &offset])?;
        }
        tx.commit()
    }
}

fn apply_one(tx: &mut Transaction<'_>, s: &Statements, event: &SinkEvent) -> Result<(), postgres::Error> {
    match event {
        SinkEvent::Reserved(e) => {
            tx.execute(
                &s.reserve,
                &[
                    &e.order_id,
                    &e.sku,
                    &e.user,
                    &e.qty,
                    &e.at_ms,
                    &e.expires_ms,
                    &e.event_id,
                ],
            )?;
            if let Some(sku) = &e.sku {
                tx.execute(&s.ledger_row, &[sku])?;
            }
        }
        SinkEvent::Settled(e) => settle(tx, s, e)?,
        SinkEvent::Refund(e) => {
            tx.execute(
                &s.refund,
                &[
                    &e.payment_id,
                    &e.order_id,
                    &e.amount.unwrap_or(0),
                    &e.state,
                    &e.at_ms.unwrap_or(0),
                    &e.event_id,
                ],
            )?;
        }
        SinkEvent::Unmatched(e) => {
            tx.execute(
                &s.unmatched,
                &[
                    &e.payment_id,
                    &e.order_id,
                    &e.amount.unwrap_or(0),
                    &e.status,
                    &e.at_ms.unwrap_or(0),
                    &e.event_id,
                ],
            )?;
        }
        SinkEvent::Skip => {}
    }
    Ok(())
}

/// Moves an order out of `reserved` (once); a paid one adds its units to the ledger. An order
/// whose reservation this sink never saw (a log from before schema version 1 named its
/// settlements only by id) is created from what the settlement carries.
fn settle(tx: &mut Transaction<'_>, s: &Statements, e: &OrderEvent) -> Result<(), postgres::Error> {
    tx.execute(&s.ensure_order, &[&e.order_id, &e.sku, &e.user, &e.qty, &e.event_id])?;
    if let Some(sku) = &e.sku {
        tx.execute(&s.ledger_row, &[sku])?;
    }
    tx.execute(
        &s.settle,
        &[&e.order_id, &e.kind, &e.at_ms, &e.payment_id, &e.amount, &e.event_id],
    )?;
    Ok(())
}

fn prepare(client: &mut Client) -> Result<Statements, postgres::Error> {
    Ok(Statements {
        reserve: client.prepare(
            "insert into orders (order_id, sku, user_id, qty, state, reserved_ms, expires_ms, last_event_id)
             values ($1, $2, $3, $4, 'reserved', $5, $6, $7)
             on conflict (order_id) do update set
               sku = coalesce(orders.sku, excluded.sku),
               user_id = coalesce(orders.user_id, excluded.user_id),
               qty = coalesce(orders.qty, excluded.qty),
               reserved_ms = coalesce(orders.reserved_ms, excluded.reserved_ms),
               expires_ms = coalesce(orders.expires_ms, excluded.expires_ms)",
        )?,
        ledger_row: client.prepare("insert into sku_ledger (sku) values ($1) on conflict do nothing")?,
        ensure_order: client.prepare(
            "insert into orders (order_id, sku, user_id, qty, state, last_event_id)
             values ($1, $2, $3, $4, 'reserved', $5) on conflict do nothing",
        )?,
        settle: client.prepare(
            "with moved as (
               update orders set state = $2, settled_ms = $3, payment_id = $4, amount = $5,
                 last_event_id = $6
               where order_id = $1 and state = 'reserved'
               returning sku, qty)
             update sku_ledger l set sold = l.sold + m.qty, paid_orders = l.paid_orders + 1
             from moved m where $2 = 'paid' and l.sku = m.sku",
        )?,
        refund: client.prepare(
            "insert into refunds (payment_id, order_id, amount, state, at_ms, event_id)
             values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
        )?,
        unmatched: client.prepare(
            "insert into unmatched_payments (payment_id, order_id, amount, status, at_ms, event_id)
             values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
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
