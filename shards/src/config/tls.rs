//! `[tls.<listener>]`: the certificate, key and protocol versions of each TLS listener
//! (`listen.resps`, `listen.https`, `listen.mqtts`). See docs/tls.md.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Every `tls.*` key reloads live: a new certificate serves new handshakes, established
/// connections keep theirs.
pub fn is_hot(key: &str) -> bool {
    key.starts_with("tls.")
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// RESP over TLS (as Redis's `tls-port`).
    pub resps: TlsListenerConfig,
    /// HTTPS: the admin, shadow and wallet API.
    pub https: TlsListenerConfig,
    /// MQTT over TLS (conventionally port 8883).
    pub mqtts: TlsListenerConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsListenerConfig {
    /// PEM file with the certificate chain, the server's own certificate first.
    pub cert_file: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1). Empty: the systemd credential
    /// `tls-<listener>.key` (`LoadCredential=`), so the key never sits in the config.
    pub key_file: PathBuf,
    /// The lowest protocol version offered: "1.2" or "1.3".
    pub min_version: String,
}

impl Default for TlsListenerConfig {
    fn default() -> Self {
        TlsListenerConfig {
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            min_version: "1.2".into(),
        }
    }
}

impl TlsListenerConfig {
    /// Where the key is read from: `key_file`, else the listener's systemd credential.
    pub fn key_source(&self, listener: &str) -> Option<PathBuf> {
        if !self.key_file.as_os_str().is_empty() {
            return Some(self.key_file.clone());
        }
        let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
        let path = Path::new(&dir).join(format!("tls-{listener}.key"));
        path.exists().then_some(path)
    }
}

impl TlsConfig {
    /// The listeners' TLS settings by name, in `listen.*` order.
    pub fn listeners(&self) -> [(&'static str, &TlsListenerConfig); 3] {
        [("resps", &self.resps), ("https", &self.https), ("mqtts", &self.mqtts)]
    }

    /// A listener's settings by its name.
    pub fn listener(&self, name: &str) -> Option<&TlsListenerConfig> {
        self.listeners().into_iter().find(|(n, _)| *n == name).map(|(_, l)| l)
    }

    /// Checks the settings of each listener that is on (`enabled(name)`): a certificate and a
    /// key source, and a known minimum version. The files themselves are read at start and on
    /// each reload.
    pub fn validate(&self, enabled: impl Fn(&str) -> bool) -> Result<(), ConfigError> {
        for (name, l) in self.listeners() {
            if !matches!(l.min_version.as_str(), "1.2" | "1.3") {
                return Err(ConfigError::Value {
                    key: format!("tls.{name}.min_version"),
                    value: format!("{:?}", l.min_version),
                    expected: "\"1.2\" or \"1.3\"".into(),
                });
            }
            if !enabled(name) {
                continue;
            }
            if l.cert_file.as_os_str().is_empty() {
                return Err(ConfigError::Value {
                    key: format!("tls.{name}.cert_file"),
                    value: "\"\"".into(),
                    expected: format!("a PEM certificate chain while listen.{name} is set"),
                });
            }
            if l.key_source(name).is_none() {
                return Err(ConfigError::Value {
                    key: format!("tls.{name}.key_file"),
                    value: "\"\"".into(),
                    expected: format!(
                        "a PEM private key, or the systemd credential tls-{name}.key, while listen.{name} is set"
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_that_is_on_needs_a_certificate_and_a_key() {
        let mut tls = TlsConfig::default();
        tls.validate(|_| false).unwrap();
        let e = tls.validate(|name| name == "https").unwrap_err().to_string();
        assert!(e.contains("tls.https.cert_file"), "{e}");
        tls.https.cert_file = "/etc/shardhub/server.crt".into();
        if std::env::var_os("CREDENTIALS_DIRECTORY").is_none() {
            let e = tls.validate(|name| name == "https").unwrap_err().to_string();
            assert!(e.contains("tls.https.key_file"), "{e}");
        }
        tls.https.key_file = "/etc/shardhub/server.key".into();
        tls.validate(|name| name == "https").unwrap();
        tls.resps.min_version = "1.1".into();
        let e = tls.validate(|_| false).unwrap_err().to_string();
        assert!(e.contains("tls.resps.min_version"), "{e}");
    }
}
