//! Logs through `tracing`: human-readable by default, one JSON object per line with
//! `log_format = "json"`. The level filter can be swapped on reload.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

/// Changes the level filter of the running subscriber.
#[derive(Clone)]
pub struct LogHandle(reload::Handle<EnvFilter, Registry>);

impl LogHandle {
    pub fn set_level(&self, level: &str) {
        match EnvFilter::try_new(level) {
            Ok(filter) => {
                if let Err(e) = self.0.reload(filter) {
                    tracing::warn!(error = %e, "could not change the log level");
                }
            }
            Err(e) => tracing::warn!(error = %e, level, "invalid log level"),
        }
    }
}

/// Installs the global subscriber; logs go to stderr (journald picks them up under systemd).
pub fn init(format: &str, level: &str) -> LogHandle {
    let (filter, handle) = reload::Layer::new(EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info")));
    let registry = tracing_subscriber::registry().with(filter);
    if format == "json" {
        registry.with(fmt::layer().json().with_writer(std::io::stderr)).init();
    } else {
        // Colours only for a terminal: journald and log files get plain text.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        registry
            .with(fmt::layer().with_ansi(ansi).with_writer(std::io::stderr))
            .init();
    }
    LogHandle(handle)
}
