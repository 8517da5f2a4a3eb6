//! Errors of the configuration.

use std::path::PathBuf;

/// A configuration that cannot be used. Display names the key, the value and what was
/// expected, because that is what an operator needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("config key `{key}`: value {value} is invalid; expected {expected}")]
    Value {
        key: String,
        value: String,
        expected: String,
    },
}
