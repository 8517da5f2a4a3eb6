//! What the broker keeps across restarts on one shard: the retained messages and the device
//! shadows it owns, in one log (records plus snapshots, like the flash-sale log) so that a
//! restart replays both.
//!
//! A change is applied at once and its record appended; whoever must not answer before the
//! record is safe (a QoS 1 PUBLISH's PUBACK, an HTTP shadow update) waits for
//! [`MqttStore::durable`]. The flusher writes and fsyncs as `mqtt.durability` says.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use shardhub_core::journal::encode_record;
use shardhub_core::shadow::{ShadowEvent, ShadowLimits, ShadowStore};
use shardhub_core::EventSink;
use shardhub_core::ShardId;
use shardhub_net::mqtt::session::Message;
use shardhub_net::mqtt::{MqttStr, PublishProperties, QoS, UserProperty};

use super::retained::{RetainRefusal, RetainedLimits, RetainedStore};
use crate::config::{Config, ShadowConfig};
use crate::runtime::ShardCtx;
use crate::storage::{DurableLog, Journal, JournalError, Recovery, TornTail};

/// Why a record or the snapshot of the broker's log did not replay.
#[derive(Debug, thiserror::Error)]
enum ReplayError {
    #[error("cannot decode: {0}")]
    Decode(#[from] postcard::Error),
    #[error("a retained message's text: {0}")]
    Text(shardhub_net::mqtt::string::StrError),
    #[error("a retained message's QoS {0}")]
    QoS(u8),
    #[error("shadow: {0}")]
    Shadow(#[from] shardhub_core::error::ShadowError),
}

/// One log record.
#[derive(Serialize, Deserialize)]
enum StoreEvent {
    /// A retained message set (or, with an empty payload, cleared).
    Retained(RetainedRecord),
    Shadow(ShadowEvent),
}

/// A retained message in the log: the message minus what is per delivery.
#[derive(Serialize, Deserialize)]
struct RetainedRecord {
    topic: Bytes,
    payload: Bytes,
    qos: u8,
    expires_at_ms: Option<u64>,
    payload_format_indicator: Option<bool>,
    content_type: Option<Bytes>,
    response_topic: Option<Bytes>,
    correlation_data: Option<Bytes>,
    user_properties: Vec<(Bytes, Bytes)>,
}

impl RetainedRecord {
    fn of(m: &Message) -> Self {
        let p = &m.properties;
        Self {
            topic: m.topic.as_bytes().clone(),
            payload: m.payload.clone(),
            qos: m.qos.bits(),
            expires_at_ms: m.expires_at_ms,
            payload_format_indicator: p.payload_format_indicator,
            content_type: p.content_type.as_ref().map(|s| s.as_bytes().clone()),
            response_topic: p.response_topic.as_ref().map(|s| s.as_bytes().clone()),
            correlation_data: p.correlation_data.clone(),
            user_properties: p
                .user_properties
                .iter()
                .map(|u| (u.name.as_bytes().clone(), u.value.as_bytes().clone()))
                .collect(),
        }
    }

    fn into_message(self) -> Result<Message, ReplayError> {
        let text = |b: Bytes| MqttStr::from_bytes(b).map_err(ReplayError::Text);
        let mut properties = PublishProperties {
            payload_format_indicator: self.payload_format_indicator,
            correlation_data: self.correlation_data,
            ..PublishProperties::default()
        };
        properties.content_type = self.content_type.map(text).transpose()?;
        properties.response_topic = self.response_topic.map(text).transpose()?;
        for (name, value) in self.user_properties {
            properties.user_properties.push(UserProperty {
                name: text(name)?,
                value: text(value)?,
            });
        }
        Ok(Message {
            topic: text(self.topic)?,
            payload: self.payload,
            qos: QoS::from_bits(self.qos).ok_or(ReplayError::QoS(self.qos))?,
            retain: true,
            properties,
            expires_at_ms: self.expires_at_ms,
            origin: 0,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    retained: Vec<RetainedRecord>,
    shadows: Vec<u8>,
}

pub fn shadow_limits(c: &ShadowConfig) -> ShadowLimits {
    ShadowLimits {
        request_bytes_max: c.document_bytes_max,
        document_bytes_max: c.document_bytes_max,
        depth_max: c.depth_max,
        shadows_max: c.shadows_per_shard_max,
        ..ShadowLimits::default()
    }
}

/// The log directory of one shard's broker state.
pub fn log_dir(data_dir: &Path, shard: ShardId) -> PathBuf {
    data_dir.join("mqtt").join(format!("shard-{shard}"))
}

/// What the log rebuilds: a snapshot, then the records after it.
struct LoggedState {
    retained: RefCell<RetainedStore>,
    shadows: RefCell<ShadowStore>,
}

impl LoggedState {
    fn new(limits: ShadowLimits) -> Self {
        Self {
            retained: RefCell::new(RetainedStore::default()),
            shadows: RefCell::new(ShadowStore::new(limits)),
        }
    }

    fn restore(&self, state: &[u8]) -> Result<(), ReplayError> {
        let snapshot: Snapshot = postcard::from_bytes(state)?;
        let limits = self.shadows.borrow().limits();
        *self.shadows.borrow_mut() = ShadowStore::restore(&snapshot.shadows, limits)?;
        let mut retained = self.retained.borrow_mut();
        for record in snapshot.retained {
            // Replay keeps what was acknowledged, whatever the bounds say now.
            let _ = retained.set(Arc::new(record.into_message()?), RetainedLimits::NONE);
        }
        Ok(())
    }

    fn replay(&self, record: &[u8]) -> Result<(), ReplayError> {
        match postcard::from_bytes(record)? {
            StoreEvent::Retained(record) => {
                let _ = self
                    .retained
                    .borrow_mut()
                    .set(Arc::new(record.into_message()?), RetainedLimits::NONE);
                Ok(())
            }
            StoreEvent::Shadow(event) => Ok(self.shadows.borrow_mut().apply(event)?),
        }
    }
}

pub struct MqttStore {
    pub retained: RefCell<RetainedStore>,
    pub shadows: RefCell<ShadowStore>,
    log: DurableLog,
}

/// Appends shadow events to the log.
pub struct ShadowSink<'a>(&'a Journal);

impl EventSink<ShadowEvent> for ShadowSink<'_> {
    fn record(&mut self, event: &ShadowEvent) {
        self.0
            .append(|out| encode_record(&StoreEvent::Shadow(event.clone()), out));
    }
}

impl MqttStore {
    /// Opens the shard's log and replays it.
    pub fn open(shard: ShardId, config: &Config) -> Result<(MqttStore, Recovery), JournalError> {
        let dir = log_dir(&config.server.data_dir, shard);
        let state = LoggedState::new(shadow_limits(&config.shadow));
        let (journal, recovery) = Journal::open(&dir, |s| state.restore(s), |r| state.replay(r))?;
        let LoggedState { retained, shadows } = state;
        let m = &config.mqtt;
        let store = MqttStore {
            retained,
            shadows,
            log: DurableLog::new(
                journal,
                m.durability,
                Duration::from_millis(m.batch_fsync_ms),
                m.snapshot_log_bytes,
            ),
        };
        Ok((store, recovery))
    }

    pub fn reconfigure(&self, config: &Config) {
        self.log
            .set_batch_fsync(Duration::from_millis(config.mqtt.batch_fsync_ms));
        self.log.set_snapshot_log_bytes(config.mqtt.snapshot_log_bytes);
        self.shadows.borrow_mut().set_limits(shadow_limits(&config.shadow));
    }

    /// Stores (or clears) a retained message and logs it; returns its record number, or why
    /// it was not kept (nothing changed then).
    pub fn set_retained(&self, message: Arc<Message>, limits: RetainedLimits) -> Result<u64, RetainRefusal> {
        self.retained.borrow_mut().set(message.clone(), limits)?;
        Ok(self
            .log
            .append(|out| encode_record(&StoreEvent::Retained(RetainedRecord::of(&message)), out)))
    }

    /// Whether the log failed: changes are refused until a restart.
    pub fn failed(&self) -> bool {
        self.log.failed()
    }

    /// Runs a shadow command with the log as its sink; returns its result and the record
    /// number to wait for.
    pub fn shadow<T>(&self, f: impl FnOnce(&mut ShadowStore, &mut ShadowSink) -> T) -> (T, u64) {
        let mut shadows = self.shadows.borrow_mut();
        let mut sink = ShadowSink(self.log.journal());
        let result = f(&mut shadows, &mut sink);
        self.log.wake();
        (result, self.log.appended())
    }

    /// Resolves once record `lsn` is as safe as `mqtt.durability` asks; false when the log
    /// failed and it never will be.
    pub async fn durable(&self, lsn: u64) -> bool {
        self.log.durable(lsn).await
    }

    /// The group-commit loop of the broker's log.
    pub async fn run_flusher(&self, ctx: &ShardCtx) {
        let roll_back = || self.roll_back(ctx);
        self.log
            .run_flusher(ctx, "mqtt", || self.snapshot_state(), roll_back)
            .await;
    }

    /// After the log failed and was cut back: retained messages and shadows go back to what
    /// it holds, as a restart would see them, so a change that was refused (PUBACK 0x80, a
    /// shadow update answered 503) keeps no effect. Runs before the refused writers answer.
    fn roll_back(&self, ctx: &ShardCtx) {
        let state = LoggedState::new(shadow_limits(&ctx.config().shadow));
        let reread = self
            .log
            .journal()
            .reread(TornTail::Cut, |s| state.restore(s), |r| state.replay(r));
        if let Err(e) = reread {
            tracing::error!(shard = ctx.id, error = %e, "mqtt log could not be read back; state kept as it is");
            return;
        }
        *self.retained.borrow_mut() = state.retained.into_inner();
        *self.shadows.borrow_mut() = state.shadows.into_inner();
        debug_assert!(self.shadows.borrow().check_invariants().is_ok());
        tracing::warn!(
            shard = ctx.id,
            "mqtt state rolled back to the log; changes refused until restart"
        );
    }

    fn snapshot_state(&self) -> Vec<u8> {
        let snapshot = Snapshot {
            retained: self.retained.borrow().iter().map(|m| RetainedRecord::of(m)).collect(),
            shadows: self.shadows.borrow().snapshot(),
        };
        postcard::to_allocvec(&snapshot).expect("encoding into a Vec")
    }
}
