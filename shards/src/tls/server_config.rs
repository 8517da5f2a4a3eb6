//! A TLS listener's rustls configuration, built from its certificate chain and key files.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use super::TlsError;
use crate::config::TlsListenerConfig;

/// Reads the listener's files and builds its configuration: the versions from
/// `min_version` up, the ALPN protocol its clients speak (none for RESP: Redis clients
/// offer none), no client certificates.
pub fn build(
    listener: &'static str,
    config: &TlsListenerConfig,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(listener, &config.cert_file)?;
    let key_path = config.key_source(listener).ok_or(TlsError::NoKeySource { listener })?;
    let key = private_key(listener, &key_path)?;
    let versions: &[&rustls::SupportedProtocolVersion] = match config.min_version.as_str() {
        "1.3" => &[&rustls::version::TLS13],
        _ => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    // ring: it builds with the C compiler the project already needs. rustls deprecates it
    // for lacking the post-quantum hybrid key exchange (X25519MLKEM768), which only its
    // aws-lc-rs provider (a cmake build) has; docs/tls.md says so.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let rustls_error = |source| TlsError::Rustls { listener, source };
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(rustls_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(rustls_error)?;
    server.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(server))
}

fn read(listener: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        listener,
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(listener: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(listener, path)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            listener,
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn private_key(listener: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(listener, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| TlsError::NoKey {
        listener,
        path: path.to_path_buf(),
    })
}
