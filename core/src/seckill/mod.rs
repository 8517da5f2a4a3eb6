//! Flash-sale inventory ("seckill"): SKUs, reservations that expire, payments, cancellations,
//! per-user limits and idempotent retries, for the SKUs one shard owns.
//!
//! - [`Inventory`]: the state machine. Commands check, build an [`Event`], log it through an
//!   [`EventSink`](crate::EventSink), then apply it; replay applies logged events the same way.
//! - [`OrderId`]: `<slot>-<seq>`, so an order routes to its owner without a lookup.
//! - `order_book`: the orders, stored densely by slot and sequence (no hashing, no rehash).
//! - `deadlines`: reservation deadlines, one sorted queue per hold length.
//! - `outbox`: the key and JSON a relay publishes for each logged event.
//!
//! The invariant everything here protects: for every SKU, available + reserved + sold equals
//! the total (STOCK.SET plus restocks), and reserved and sold equal the sums over the sale's
//! orders. [`Inventory::check_invariants`] checks it; the property tests drive it.

mod deadlines;
mod event;
mod inventory;
mod order_book;
mod order_id;
mod outbox;
#[cfg(test)]
mod proptests;

pub use event::{Event, PaymentRef, Settlement};
pub use inventory::{Bought, Buy, Inventory, InventoryLimits, Order, OrderState, PaymentOutcome, StockView, UNITS_MAX};
pub use order_book::{chunk_of, CHUNK_ORDERS};
pub use order_id::OrderId;
pub use outbox::{outbox_key, outbox_value, EventId, OUTBOX_SCHEMA_VERSION};
