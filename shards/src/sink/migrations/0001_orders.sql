-- The order store the sink writes (docs/pipeline.md, "The sink").

-- One row per order; its state only moves forward: reserved -> paid | cancelled | expired.
create table orders (
    order_id      text primary key,
    sku           text,
    user_id       text,
    qty           integer,
    state         text not null check (state in ('reserved', 'paid', 'cancelled', 'expired')),
    reserved_ms   bigint,
    expires_ms    bigint,
    settled_ms    bigint,
    payment_id    text,
    amount        bigint,
    last_event_id text not null,
    -- When the sink wrote the row (microseconds since the epoch; the end of the end-to-end
    -- latency that scripts/bench-pipeline.sh measures).
    stored_us     bigint not null default (extract(epoch from clock_timestamp()) * 1000000)::bigint
);

-- Per SKU: the final stock deduction. `sold` moves only when an order moves to paid.
create table sku_ledger (
    sku         text primary key,
    sold        bigint not null default 0,
    paid_orders bigint not null default 0
);

-- Payments to return, and payments for orders nobody issued.
create table refunds (
    payment_id text primary key,
    order_id   text not null,
    amount     bigint not null,
    state      text not null,
    at_ms      bigint not null,
    event_id   text not null
);

create table unmatched_payments (
    payment_id text primary key,
    order_id   text not null,
    amount     bigint not null,
    status     text not null,
    at_ms      bigint not null,
    event_id   text not null
);

-- Where the sink stands in each partition, written in the same transaction as the rows.
create table sink_offsets (
    topic       text    not null,
    partition   integer not null,
    next_offset bigint  not null,
    primary key (topic, partition)
);
