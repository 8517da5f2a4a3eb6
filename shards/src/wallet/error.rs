//! The wallet API's refusals: an HTTP status and a stable code, written as
//! `{"error": {"code", "message"}}`, and the start-up errors of the keystore.

use std::path::PathBuf;

use shardhub_crypto::gm::{GmError, KeystoreError};
use shardhub_crypto::hd::HdError;
use shardhub_net::http::Status;

use crate::storage::JournalError;

/// A refused request. Messages never carry secrets (the crypto errors hold none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: Status,
    pub code: &'static str,
    pub message: String,
    /// A header the status calls for: `Allow` on 405, `WWW-Authenticate` on 401.
    pub header: Option<(&'static str, &'static str)>,
}

impl ApiError {
    pub fn new(status: Status, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            header: None,
        }
    }

    /// A 405 naming the methods the route takes.
    pub fn method_not_allowed(allow: &'static str) -> ApiError {
        ApiError {
            header: Some(("allow", allow)),
            ..ApiError::new(Status::MethodNotAllowed, "method_not_allowed", format!("use {allow}"))
        }
    }

    /// A 401 with the bearer challenge.
    pub fn unauthorized(message: &str) -> ApiError {
        ApiError {
            header: Some(("www-authenticate", "Bearer realm=\"shardhub\"")),
            ..ApiError::new(Status::Unauthorized, "unauthorized", message)
        }
    }

    pub fn bad_json(message: impl Into<String>) -> ApiError {
        ApiError::new(Status::BadRequest, "bad_json", message)
    }

    pub fn unknown_wallet() -> ApiError {
        ApiError::new(Status::NotFound, "unknown_wallet", "no wallet with that id")
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(Status::ServiceUnavailable, "unavailable", message)
    }

    pub fn unknown_session() -> ApiError {
        ApiError::new(
            Status::NotFound,
            "unknown_session",
            "no such secure session (or it expired)",
        )
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        shardhub_net::http::json_error_body(self.code, &self.message)
    }
}

impl From<HdError> for ApiError {
    fn from(e: HdError) -> ApiError {
        ApiError::new(Status::BadRequest, e.code(), e.to_string())
    }
}

impl From<GmError> for ApiError {
    fn from(e: GmError) -> ApiError {
        let status = match e {
            GmError::Confirmation => Status::Forbidden,
            _ => Status::BadRequest,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// Why the wallet could not start. Each names the file, so an operator knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum CustodyError {
    #[error("wallet passphrase file {path}: {source}")]
    Passphrase {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("wallet passphrase in {path} is empty")]
    EmptyPassphrase { path: PathBuf },
    #[error("{path}: wrong wallet passphrase (or the keystore was tampered with); nothing was changed")]
    WrongPassphrase { path: PathBuf },
    #[error("{path}: keystore is corrupt and was left untouched: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: KeystoreError,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is missing but wallet logs exist beside it; restore it from backup (a new server key would not open them)")]
    MissingServerKeystore { path: PathBuf },
    #[error("cannot draw random bytes from the operating system: {0}")]
    Random(String),
    #[error(transparent)]
    Log(#[from] JournalError),
}

impl CustodyError {
    pub fn keystore(path: PathBuf, source: KeystoreError) -> CustodyError {
        match source {
            KeystoreError::WrongPassphraseOrTampered => CustodyError::WrongPassphrase { path },
            source => CustodyError::Corrupt { path, source },
        }
    }
}
