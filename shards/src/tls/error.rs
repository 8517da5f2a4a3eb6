//! Why a TLS listener's certificate or key could not be loaded.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls.{listener}: cannot read {path}: {source}")]
    Read {
        listener: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tls.{listener}: {path} holds no PEM certificate")]
    NoCertificate { listener: &'static str, path: PathBuf },
    #[error("tls.{listener}: {path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { listener: &'static str, path: PathBuf },
    #[error("tls.{listener}: no key_file and no systemd credential tls-{listener}.key")]
    NoKeySource { listener: &'static str },
    #[error("tls.{listener}: {source}")]
    Rustls {
        listener: &'static str,
        source: rustls::Error,
    },
}
