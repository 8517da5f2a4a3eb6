//! Configuration: TOML with embedded defaults, command-line overrides, validation that names
//! the key, the value and what was expected, and the split between keys that reload live and
//! keys that need a restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod error;
mod front;
mod mqtt;
mod pipeline;
mod proxy;
mod tls;
mod wallet;

pub use error::ConfigError;
pub use front::{HttpConfig, RespConfig};

pub use mqtt::{MqttAuth, MqttConfig, ShadowConfig, TokenExpiry};
pub use pipeline::PipelineConfig;
pub use proxy::{ProxyConfig, ProxyListenerConfig};
pub use tls::{TlsConfig, TlsListenerConfig};
pub use wallet::{check_client, SecureClientConfig, WalletAuth, WalletConfig, CLIENT_ID_BYTES_MAX};

/// Keys that SIGHUP or a change of the file applies without a restart. Everything else is
/// reported as needing one.
pub const HOT_KEYS: &[&str] = &[
    "server.log_level",
    "limits.max_connections_per_shard",
    "limits.max_request_bytes",
    "limits.max_bulk_bytes",
    "limits.max_args",
    "limits.max_inline_bytes",
    "keyspace.max_keys_per_shard",
    "keyspace.active_expire_interval_ms",
    "keyspace.active_expire_keys_per_cycle",
    "lifecycle.drain_timeout_ms",
    "lifecycle.drain_quiet_ms",
    "lifecycle.config_poll_ms",
    "seckill.batch_fsync_ms",
    "seckill.admission_queue",
    "seckill.max_skus_per_shard",
    "seckill.max_orders_per_shard",
    "seckill.max_qty",
    "seckill.max_id_bytes",
    "seckill.default_hold_secs",
    "seckill.expiry_tick_ms",
    "seckill.expire_per_tick",
    "seckill.snapshot_log_bytes",
    "seckill.log_pending_max",
    "seckill.metrics_skus_max",
    "seckill.finished_orders_keep_secs",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub listen: ListenConfig,
    pub limits: LimitsConfig,
    pub resp: RespConfig,
    pub http: HttpConfig,
    pub keyspace: KeyspaceConfig,
    pub mesh: MeshConfig,
    pub lifecycle: LifecycleConfig,
    pub seckill: SeckillConfig,
    pub mqtt: MqttConfig,
    pub shadow: ShadowConfig,
    pub wallet: WalletConfig,
    pub pipeline: PipelineConfig,
    pub tls: TlsConfig,
    pub proxy: ProxyConfig,
}

/// Whether a key reloads live.
pub fn is_hot(key: &str) -> bool {
    HOT_KEYS.contains(&key)
        || front::HOT_KEYS.contains(&key)
        || mqtt::HOT_KEYS.contains(&key)
        || wallet::HOT_KEYS.contains(&key)
        || tls::is_hot(key)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Executor threads; 0 means one per available CPU.
    pub shards: usize,
    pub data_dir: PathBuf,
    /// Pin shard i to CPU i (mod the CPU count).
    pub pin_cpus: bool,
    /// "human" or "json".
    pub log_format: String,
    /// A tracing filter such as "info" or "shardhub=debug".
    pub log_level: String,
    /// io_uring submission queue entries per shard.
    pub uring_entries: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            shards: 0,
            data_dir: PathBuf::from("./data"),
            pin_cpus: true,
            log_format: "human".into(),
            log_level: "info".into(),
            uring_entries: 1024,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    pub resp: String,
    pub mqtt: String,
    pub http: String,
    /// RESP over TLS (`[tls.resps]`); empty: off.
    pub resps: String,
    /// HTTPS (`[tls.https]`); empty: off.
    pub https: String,
    /// MQTT over TLS (`[tls.mqtts]`); empty: off.
    pub mqtts: String,
    /// Accept backlog of each listener (capped by net.core.somaxconn).
    pub backlog: u32,
}

impl ListenConfig {
    /// A TLS listener's address by its name (`resps`, `https`); empty when it is off.
    pub fn tls_address(&self, name: &str) -> &str {
        match name {
            "resps" => &self.resps,
            "https" => &self.https,
            "mqtts" => &self.mqtts,
            _ => "",
        }
    }
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            resp: "127.0.0.1:6380".into(),
            mqtt: "127.0.0.1:1883".into(),
            http: "127.0.0.1:8080".into(),
            resps: String::new(),
            https: String::new(),
            mqtts: String::new(),
            backlog: 4096,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Open client connections one shard serves (all protocols); more get an error and close.
    #[serde(rename = "max_connections_per_shard")]
    pub connections_per_shard_max: usize,
    /// Bytes one unfinished RESP request may buffer.
    #[serde(rename = "max_request_bytes")]
    pub request_bytes_max: usize,
    /// Longest RESP argument (Redis's proto-max-bulk-len).
    #[serde(rename = "max_bulk_bytes")]
    pub bulk_bytes_max: usize,
    /// Most arguments in one RESP request.
    #[serde(rename = "max_args")]
    pub args_max: usize,
    /// Longest inline (telnet-style) RESP command.
    #[serde(rename = "max_inline_bytes")]
    pub inline_bytes_max: usize,
    /// Requests awaiting a reply from other shards, per shard; beyond it, -BUSY.
    #[serde(rename = "max_pending_mesh_requests")]
    pub pending_mesh_requests_max: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            connections_per_shard_max: 8192,
            request_bytes_max: 64 * 1024 * 1024,
            bulk_bytes_max: 16 * 1024 * 1024,
            args_max: 1024 * 1024,
            inline_bytes_max: 64 * 1024,
            pending_mesh_requests_max: 65536,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyspaceConfig {
    #[serde(rename = "max_keys_per_shard")]
    pub keys_per_shard_max: usize,
    pub active_expire_interval_ms: u64,
    pub active_expire_keys_per_cycle: usize,
}

impl Default for KeyspaceConfig {
    fn default() -> Self {
        Self {
            keys_per_shard_max: 10_000_000,
            active_expire_interval_ms: 100,
            active_expire_keys_per_cycle: 2000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeshConfig {
    /// Slots in each one-way ring between two shards.
    pub ring_capacity: usize,
    /// How long an idle shard polls its rings before parking (a park costs a futex wake).
    pub spin_us: u64,
}

impl Default for MeshConfig {
    fn default() -> Self {
        Self {
            ring_capacity: 4096,
            spin_us: 50,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// Longest a graceful shutdown waits for connections to finish.
    pub drain_timeout_ms: u64,
    /// A draining server exits once no request arrived for this long.
    pub drain_quiet_ms: u64,
    /// How often the config file is checked for changes; 0 disables the check (SIGHUP only).
    pub config_poll_ms: u64,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            drain_timeout_ms: 10_000,
            drain_quiet_ms: 200,
            config_poll_ms: 1000,
        }
    }
}

/// When a flash-sale change is acknowledged, relative to its log record reaching the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After the group's fdatasync.
    Sync,
    /// After the group's write; fdatasync every `batch_fsync_ms`.
    Batch,
    /// After the group's write; never fsynced by us.
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeckillConfig {
    pub durability: Durability,
    /// In batch mode, how often written log records are fsynced.
    pub batch_fsync_ms: u64,
    /// BUYs one shard lets wait on one owner shard; beyond it, -BUSY.
    pub admission_queue: usize,
    #[serde(rename = "max_skus_per_shard")]
    pub skus_per_shard_max: usize,
    #[serde(rename = "max_orders_per_shard")]
    pub orders_per_shard_max: usize,
    /// Most units one BUY may reserve.
    #[serde(rename = "max_qty")]
    pub qty_max: u32,
    /// Longest SKU, user or REQID.
    #[serde(rename = "max_id_bytes")]
    pub id_bytes_max: usize,
    /// HOLD of a STOCK.SET that names none.
    pub default_hold_secs: u64,
    /// How often an owner shard expires due reservations.
    pub expiry_tick_ms: u64,
    /// Most reservations one expiry tick expires, so a tick stays short.
    pub expire_per_tick: usize,
    /// Log bytes since the last snapshot that trigger a new one.
    pub snapshot_log_bytes: u64,
    /// Log records a shard may have waiting for the disk; beyond it, -BUSY.
    pub log_pending_max: usize,
    /// SKUs per shard with their own metric labels; the rest are counted as "_other".
    pub metrics_skus_max: usize,
    /// With the order pipeline on: orders settled longer ago than this, and published by the
    /// relay, leave shard memory (ORDER.GET answers -ARCHIVED); 0 keeps them.
    pub finished_orders_keep_secs: u64,
}

impl Default for SeckillConfig {
    fn default() -> Self {
        Self {
            durability: Durability::Sync,
            batch_fsync_ms: 10,
            admission_queue: 4096,
            skus_per_shard_max: 100_000,
            orders_per_shard_max: 5_000_000,
            qty_max: 100,
            id_bytes_max: 128,
            default_hold_secs: 900,
            expiry_tick_ms: 100,
            expire_per_tick: 10_000,
            snapshot_log_bytes: 64 * 1024 * 1024,
            log_pending_max: 65_536,
            metrics_skus_max: 1000,
            finished_orders_keep_secs: 3600,
        }
    }
}

/// Values given on the command line; they win over the file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub shards: Option<usize>,
    pub resp: Option<String>,
    pub mqtt: Option<String>,
    pub http: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<String>,
    pub wallet_passphrase_file: Option<PathBuf>,
}

/// Bounds the validation enforces; beyond them a value is a mistake, not a tuning choice.
const SHARDS_MAX: usize = 1024;
const RING_CAPACITY_MIN: usize = 16;
/// Longest reservation hold: a year. Longer is a typo, and it keeps deadlines far from overflow.
pub const HOLD_SECS_MAX: u64 = 365 * 24 * 3600;
const SNAPSHOT_LOG_BYTES_MIN: u64 = 4096;
const MQTT_PACKET_BYTES_MIN: u32 = 128;
const MQTT_PACKET_BYTES_MAX: u32 = 268_435_460;

impl Config {
    /// Reads and validates a file, then applies the overrides.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                    path: path.to_path_buf(),
                    source: e,
                })?;
                Config::parse(&text)?
            }
            None => Config::default(),
        };
        config.apply(overrides);
        config.validate()?;
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let deserializer = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            ConfigError::Invalid {
                key: if key == "." { "(file)".into() } else { key },
                message: inner.message().to_string(),
            }
        })
    }

    pub fn apply(&mut self, o: &Overrides) {
        if let Some(v) = o.shards {
            self.server.shards = v;
        }
        if let Some(v) = &o.resp {
            self.listen.resp = v.clone();
        }
        if let Some(v) = &o.mqtt {
            self.listen.mqtt = v.clone();
        }
        if let Some(v) = &o.http {
            self.listen.http = v.clone();
        }
        if let Some(v) = &o.data_dir {
            self.server.data_dir = v.clone();
        }
        if let Some(v) = &o.log_format {
            self.server.log_format = v.clone();
        }
        if let Some(v) = &o.wallet_passphrase_file {
            self.wallet.passphrase_file = v.clone();
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, expected: &str| {
            Err(ConfigError::Value {
                key: key.into(),
                value,
                expected: expected.into(),
            })
        };
        if self.server.shards > SHARDS_MAX {
            return bad(
                "server.shards",
                self.server.shards.to_string(),
                "0 (one per CPU) to 1024",
            );
        }
        if !matches!(self.server.log_format.as_str(), "human" | "json") {
            return bad(
                "server.log_format",
                format!("{:?}", self.server.log_format),
                "\"human\" or \"json\"",
            );
        }
        if tracing_subscriber::EnvFilter::try_new(&self.server.log_level).is_err() {
            return bad(
                "server.log_level",
                format!("{:?}", self.server.log_level),
                "a tracing filter such as \"info\"",
            );
        }
        if !(8..=32768).contains(&self.server.uring_entries) {
            return bad(
                "server.uring_entries",
                self.server.uring_entries.to_string(),
                "8 to 32768",
            );
        }
        for (key, value) in [
            ("listen.resp", &self.listen.resp),
            ("listen.mqtt", &self.listen.mqtt),
            ("listen.http", &self.listen.http),
        ] {
            if value.parse::<SocketAddr>().is_err() {
                return bad(
                    key,
                    format!("{value:?}"),
                    "an IP address and port such as 127.0.0.1:6380",
                );
            }
        }
        for (key, value) in [
            ("listen.resps", &self.listen.resps),
            ("listen.https", &self.listen.https),
            ("listen.mqtts", &self.listen.mqtts),
        ] {
            if !value.is_empty() && value.parse::<SocketAddr>().is_err() {
                return bad(
                    key,
                    format!("{value:?}"),
                    "empty (off), or an IP address and port such as 0.0.0.0:6390",
                );
            }
        }
        self.tls.validate(|name| !self.listen.tls_address(name).is_empty())?;
        self.proxy.validate()?;
        let l = &self.limits;
        for (key, value) in [
            ("limits.max_connections_per_shard", l.connections_per_shard_max),
            ("limits.max_request_bytes", l.request_bytes_max),
            ("limits.max_bulk_bytes", l.bulk_bytes_max),
            ("limits.max_args", l.args_max),
            ("limits.max_inline_bytes", l.inline_bytes_max),
            ("limits.max_pending_mesh_requests", l.pending_mesh_requests_max),
            ("resp.connections_per_shard_max", self.resp.connections_per_shard_max),
            ("http.connections_per_shard_max", self.http.connections_per_shard_max),
            ("http.header_timeout_ms", self.http.header_timeout_ms as usize),
            ("http.body_timeout_ms", self.http.body_timeout_ms as usize),
            ("http.idle_timeout_ms", self.http.idle_timeout_ms as usize),
            ("keyspace.max_keys_per_shard", self.keyspace.keys_per_shard_max),
            (
                "keyspace.active_expire_keys_per_cycle",
                self.keyspace.active_expire_keys_per_cycle,
            ),
            ("seckill.admission_queue", self.seckill.admission_queue),
            ("seckill.max_skus_per_shard", self.seckill.skus_per_shard_max),
            ("seckill.max_orders_per_shard", self.seckill.orders_per_shard_max),
            ("seckill.max_qty", self.seckill.qty_max as usize),
            ("seckill.max_id_bytes", self.seckill.id_bytes_max),
            ("seckill.default_hold_secs", self.seckill.default_hold_secs as usize),
            ("seckill.expiry_tick_ms", self.seckill.expiry_tick_ms as usize),
            ("seckill.expire_per_tick", self.seckill.expire_per_tick),
            ("seckill.batch_fsync_ms", self.seckill.batch_fsync_ms as usize),
            ("seckill.log_pending_max", self.seckill.log_pending_max),
            ("mqtt.max_connections_per_shard", self.mqtt.connections_per_shard_max),
            ("mqtt.connect_timeout_ms", self.mqtt.connect_timeout_ms as usize),
            ("mqtt.publishes_per_sec", self.mqtt.publishes_per_sec as usize),
            (
                "mqtt.max_subscriptions_per_client",
                self.mqtt.subscriptions_per_client_max,
            ),
            ("mqtt.receive_maximum", usize::from(self.mqtt.receive_maximum)),
            ("mqtt.max_inflight", usize::from(self.mqtt.inflight_max)),
            ("mqtt.max_queued_messages", self.mqtt.queued_messages_max),
            ("mqtt.max_retained_per_shard", self.mqtt.retained_per_shard_max),
            (
                "mqtt.retained_bytes_per_shard_max",
                self.mqtt.retained_bytes_per_shard_max as usize,
            ),
            (
                "mqtt.retained_bytes_per_prefix_max",
                self.mqtt.retained_bytes_per_prefix_max as usize,
            ),
            ("mqtt.batch_fsync_ms", self.mqtt.batch_fsync_ms as usize),
            ("shadow.max_document_bytes", self.shadow.document_bytes_max),
            ("shadow.max_depth", self.shadow.depth_max),
            ("shadow.max_shadows_per_shard", self.shadow.shadows_per_shard_max),
        ] {
            if value == 0 {
                return bad(key, "0".into(), "a positive number");
            }
        }
        if l.bulk_bytes_max > l.request_bytes_max {
            return bad(
                "limits.max_bulk_bytes",
                l.bulk_bytes_max.to_string(),
                "at most limits.max_request_bytes",
            );
        }
        if self.keyspace.active_expire_interval_ms == 0 {
            return bad(
                "keyspace.active_expire_interval_ms",
                "0".into(),
                "a positive number of milliseconds",
            );
        }
        if self.seckill.default_hold_secs > HOLD_SECS_MAX {
            return bad(
                "seckill.default_hold_secs",
                self.seckill.default_hold_secs.to_string(),
                "at most 31536000 (a year)",
            );
        }
        if self.seckill.snapshot_log_bytes < SNAPSHOT_LOG_BYTES_MIN {
            return bad(
                "seckill.snapshot_log_bytes",
                self.seckill.snapshot_log_bytes.to_string(),
                "at least 4096",
            );
        }
        self.validate_mqtt()?;
        self.validate_wallet()?;
        self.pipeline.validate()?;
        if self.mesh.ring_capacity < RING_CAPACITY_MIN {
            return bad("mesh.ring_capacity", self.mesh.ring_capacity.to_string(), "at least 16");
        }
        if self.lifecycle.drain_quiet_ms == 0 || self.lifecycle.drain_timeout_ms == 0 {
            return bad(
                "lifecycle.drain_timeout_ms",
                "0".into(),
                "positive drain_timeout_ms and drain_quiet_ms",
            );
        }
        Ok(())
    }

    fn validate_mqtt(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, expected: &str| {
            Err(ConfigError::Value {
                key: key.into(),
                value,
                expected: expected.into(),
            })
        };
        let m = &self.mqtt;
        // MQTT's own ceiling: the largest remaining length plus a 5-byte fixed header.
        if !(MQTT_PACKET_BYTES_MIN..=MQTT_PACKET_BYTES_MAX).contains(&m.packet_bytes_max) {
            return bad(
                "mqtt.max_packet_bytes",
                m.packet_bytes_max.to_string(),
                "128 to 268435460",
            );
        }
        if m.snapshot_log_bytes < SNAPSHOT_LOG_BYTES_MIN {
            return bad(
                "mqtt.snapshot_log_bytes",
                m.snapshot_log_bytes.to_string(),
                "at least 4096",
            );
        }
        match m.auth {
            MqttAuth::Anonymous => {
                if !is_loopback(&self.listen.mqtt) {
                    return bad(
                        "mqtt.auth",
                        "\"anonymous\"".into(),
                        "\"token\" when listen.mqtt is not a loopback address",
                    );
                }
            }
            MqttAuth::Token => {
                if m.token_secret.is_empty() == m.token_secret_file.as_os_str().is_empty() {
                    return bad(
                        "mqtt.token_secret",
                        "(secret and file both set, or neither)".into(),
                        "exactly one of mqtt.token_secret and mqtt.token_secret_file",
                    );
                }
            }
        }
        Ok(())
    }

    fn validate_wallet(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, expected: &str| {
            Err(ConfigError::Value {
                key: key.into(),
                value,
                expected: expected.into(),
            })
        };
        let w = &self.wallet;
        match w.auth {
            WalletAuth::None => {
                if !is_loopback(&self.listen.http) {
                    return bad(
                        "wallet.auth",
                        "\"none\"".into(),
                        "\"api_key\" when listen.http is not a loopback address",
                    );
                }
            }
            WalletAuth::ApiKey => {
                if w.api_keys_file.as_os_str().is_empty() {
                    return bad(
                        "wallet.api_keys_file",
                        "\"\"".into(),
                        "a file of hashed keys when wallet.auth is \"api_key\"",
                    );
                }
            }
        }
        for (key, value) in [
            ("wallet.session_idle_secs", w.session_idle_secs as usize),
            ("wallet.sessions_per_client_max", w.sessions_per_client_max),
            ("wallet.max_wallets_per_shard", w.wallets_per_shard_max),
        ] {
            if value == 0 {
                return bad(key, "0".into(), "a positive number");
            }
        }
        if w.server_id.is_empty() || w.server_id.len() > shardhub_crypto::gm::USER_ID_MAX_BYTES {
            return bad("wallet.server_id", format!("{:?}", w.server_id), "1 to 8191 bytes");
        }
        if let Err(e) = shardhub_crypto::gm::KdfParams::argon2id(w.kdf_memory_kib, w.kdf_iterations, w.kdf_parallelism)
        {
            return bad("wallet.kdf_memory_kib", w.kdf_memory_kib.to_string(), &e.to_string());
        }
        for client in &w.clients {
            if let Err(reason) = check_client(&client.id, &client.public_key) {
                return bad("wallet.clients", format!("{:?}", client.id), reason);
            }
        }
        Ok(())
    }

    /// Shards to run: the configured number, or one per available CPU.
    pub fn shard_count(&self) -> usize {
        match self.server.shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The effective settings as TOML, for `check-config` and the start-up log.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config always serializes")
    }

    /// Every leaf key with its value, e.g. `"limits.max_args" -> "1048576"`.
    pub fn flatten(&self) -> BTreeMap<String, String> {
        let value = toml::Value::try_from(self).expect("a config always serializes");
        let mut out = BTreeMap::new();
        if let toml::Value::Table(sections) = value {
            for (section, table) in sections {
                if let toml::Value::Table(keys) = table {
                    for (key, v) in keys {
                        out.insert(format!("{section}.{key}"), v.to_string());
                    }
                }
            }
        }
        out
    }
}

/// Whether a listen address is on loopback: the only place an unauthenticated listener may be.
fn is_loopback(addr: &str) -> bool {
    addr.parse::<SocketAddr>().is_ok_and(|a| a.ip().is_loopback())
}

/// What a reload changes.
#[derive(Debug, Default, PartialEq)]
pub struct ConfigDiff {
    /// Keys applied live: `(key, old, new)`.
    pub applied: Vec<(String, String, String)>,
    /// Keys that changed in the file but wait for a restart.
    pub needs_restart: Vec<(String, String, String)>,
}

impl ConfigDiff {
    /// Compares the running config with a newly loaded one and builds the config to run
    /// with: `new` for hot keys, `running` for the rest.
    pub fn between(running: &Config, new: &Config) -> (ConfigDiff, Config) {
        let (old_keys, new_keys) = (running.flatten(), new.flatten());
        let mut diff = ConfigDiff::default();
        for (key, new_value) in &new_keys {
            let old_value = &old_keys[key];
            if old_value != new_value {
                let entry = (key.clone(), old_value.clone(), new_value.clone());
                if is_hot(key) {
                    diff.applied.push(entry);
                } else {
                    diff.needs_restart.push(entry);
                }
            }
        }
        let mut next = running.clone();
        next.server.log_level = new.server.log_level.clone();
        next.limits.connections_per_shard_max = new.limits.connections_per_shard_max;
        next.limits.request_bytes_max = new.limits.request_bytes_max;
        next.limits.bulk_bytes_max = new.limits.bulk_bytes_max;
        next.limits.args_max = new.limits.args_max;
        next.limits.inline_bytes_max = new.limits.inline_bytes_max;
        next.resp = new.resp.clone();
        next.http = new.http.clone();
        next.keyspace = new.keyspace.clone();
        next.lifecycle = new.lifecycle.clone();
        next.seckill = SeckillConfig {
            durability: running.seckill.durability,
            ..new.seckill.clone()
        };
        next.mqtt = MqttConfig {
            auth: running.mqtt.auth,
            token_secret: running.mqtt.token_secret.clone(),
            token_secret_file: running.mqtt.token_secret_file.clone(),
            durability: running.mqtt.durability,
            ..new.mqtt.clone()
        };
        next.shadow = new.shadow.clone();
        next.wallet = WalletConfig::reloaded(&running.wallet, &new.wallet);
        next.tls = new.tls.clone();
        (diff, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid_and_match_the_example_file() {
        Config::default().validate().unwrap();
        let example = include_str!("../../../shardhub.example.toml");
        assert_eq!(Config::parse(example).unwrap(), Config::default());
    }

    #[test]
    fn errors_name_key_value_and_expectation() {
        let e = Config::parse("[server]\nshards = \"many\"\n").unwrap_err().to_string();
        assert!(e.contains("server.shards") && e.contains("many"), "{e}");
        let e = Config::parse("[server]\nshardz = 1\n").unwrap_err().to_string();
        assert!(e.contains("shardz"), "{e}");
        let mut c = Config::default();
        c.listen.resp = "nowhere".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("listen.resp") && e.contains("nowhere") && e.contains("expected"),
            "{e}"
        );
    }

    #[test]
    fn every_hot_key_exists_and_the_diff_splits_hot_from_restart() {
        let keys = Config::default().flatten();
        for k in HOT_KEYS
            .iter()
            .chain(front::HOT_KEYS)
            .chain(mqtt::HOT_KEYS)
            .chain(wallet::HOT_KEYS)
        {
            assert!(keys.contains_key(*k), "{k}");
        }
        let running = Config::default();
        let mut new = running.clone();
        new.limits.args_max = 10;
        new.server.shards = 7;
        let (diff, next) = ConfigDiff::between(&running, &new);
        assert_eq!(
            diff.applied,
            vec![("limits.max_args".into(), "1048576".into(), "10".into())]
        );
        assert_eq!(diff.needs_restart[0].0, "server.shards");
        assert_eq!(next.limits.args_max, 10);
        assert_eq!(next.server.shards, running.server.shards);
    }
}
