//! Bearer API keys: `wallet.api_keys_file` lists each key's SHA-256, never the key. Keys are
//! random tokens of 128 bits or more, so a fast hash is enough: guessing a preimage is
//! guessing the key. Lookups compare hashes in constant time.

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// What a key may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The wallet endpoints.
    App,
    /// The wallet endpoints and `/v1/admin`.
    Admin,
}

#[derive(Clone, Debug)]
struct ApiKey {
    name: String,
    role: Role,
    hash: [u8; 32],
}

/// A line of the keys file that is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: expected {expected}")]
pub struct BadLine {
    pub line: usize,
    pub expected: &'static str,
}

/// The keys file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeysError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {bad}")]
    Line { path: std::path::PathBuf, bad: BadLine },
}

/// The parsed keys file.
#[derive(Clone, Debug, Default)]
pub struct ApiKeys {
    keys: Vec<ApiKey>,
}

/// The SHA-256 of a key, in hex: what the file holds.
pub fn key_hash_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl ApiKeys {
    /// Reads `<name> <role> <sha256 hex>` lines; `#` starts a comment.
    pub fn load(path: &Path) -> Result<ApiKeys, ApiKeysError> {
        let text = std::fs::read_to_string(path).map_err(|source| ApiKeysError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        ApiKeys::parse(&text).map_err(|bad| ApiKeysError::Line {
            path: path.to_path_buf(),
            bad,
        })
    }

    pub fn parse(text: &str) -> Result<ApiKeys, BadLine> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, role, hash] = fields[..] else {
                return Err(BadLine {
                    line: n + 1,
                    expected: "`<name> <role> <sha256 hex>`",
                });
            };
            let role = match role {
                "app" => Role::App,
                "admin" => Role::Admin,
                _ => {
                    return Err(BadLine {
                        line: n + 1,
                        expected: "a role of app or admin",
                    })
                }
            };
            let mut digest = [0u8; 32];
            hex::decode_to_slice(hash, &mut digest).map_err(|_| BadLine {
                line: n + 1,
                expected: "a hash of 64 hex digits (SHA-256 of the key)",
            })?;
            keys.push(ApiKey {
                name: name.to_string(),
                role,
                hash: digest,
            });
        }
        Ok(ApiKeys { keys })
    }

    /// The role of the request's `Authorization: Bearer` key; 401 without a known one.
    pub fn check(&self, authorization: Option<&str>) -> Result<(Role, &str), ApiError> {
        let unauthorized = ApiError::unauthorized;
        let header = authorization.ok_or_else(|| unauthorized("send Authorization: Bearer <api key>"))?;
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let (scheme, key) = header.trim().split_once(' ').unwrap_or((header, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(unauthorized("the Authorization scheme must be Bearer"));
        }
        let key = key.trim();
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Every entry is compared, so the time taken does not say which one matched.
        let mut found = None;
        for k in &self.keys {
            if bool::from(k.hash.ct_eq(&hash)) {
                found = Some(k);
            }
        }
        found
            .map(|k| (k.role, k.name.as_str()))
            .ok_or_else(|| unauthorized("unknown API key"))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardhub_net::http::Status;

    #[test]
    fn keys_are_matched_by_hash_with_their_role() {
        let text = format!(
            "# comment\nmobile app {}\nops admin {}  # trailing\n",
            key_hash_hex("k-app"),
            key_hash_hex("k-admin")
        );
        let keys = ApiKeys::parse(&text).unwrap();
        assert_eq!(keys.check(Some("Bearer k-app")).unwrap(), (Role::App, "mobile"));
        assert_eq!(keys.check(Some("Bearer k-admin")).unwrap().0, Role::Admin);
        assert_eq!(keys.check(Some("BEARER  k-app ")).unwrap().0, Role::App);
        assert_eq!(keys.check(Some("Bearer nope")).unwrap_err().code, "unauthorized");
        assert_eq!(keys.check(None).unwrap_err().status, Status::Unauthorized);
        assert_eq!(keys.check(Some("Basic a2V5")).unwrap_err().code, "unauthorized");
        assert_eq!(ApiKeys::parse("a b c").unwrap_err().line, 1);
        assert!(ApiKeys::parse(&format!("a root {}", key_hash_hex("x"))).is_err());
    }
}
