//! Who may connect: anonymous (loopback listeners only) or an HS256 JWT in the CONNECT
//! password whose `sub` is the client id.
//!
//! The token decides the role; the role decides the topics (see `acl`). Refusals map to the
//! CONNACK codes both protocol versions have: a token that is not ours (bad shape, bad
//! signature, wrong algorithm, no password) is "bad user name or password"; a genuine token
//! that may not open this session (expired, issued to another client id) is "not authorized".

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::acl::Role;

/// Why a CONNECT is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRefusal {
    /// CONNACK 0x86 (v5) / return code 4 (3.1.1).
    BadCredentials,
    /// CONNACK 0x87 (v5) / return code 5 (3.1.1).
    NotAuthorized,
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    /// When the token runs out (Unix seconds); the connection is not cut then, as in EMQX:
    /// the token is checked at CONNECT.
    pub expires_at: u64,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default)]
    role: Option<String>,
}

/// Checks CONNECT passwords against one HS256 secret.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    /// `leeway_secs` forgives clock skew between the token issuer and this host.
    pub fn new(secret: &[u8], leeway_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway_secs;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn verify(&self, client_id: &str, password: Option<&[u8]>) -> Result<Grant, AuthRefusal> {
        let token = password
            .and_then(|p| std::str::from_utf8(p).ok())
            .ok_or(AuthRefusal::BadCredentials)?;
        let claims = match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) => data.claims,
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature) => {
                return Err(AuthRefusal::NotAuthorized)
            }
            Err(_) => return Err(AuthRefusal::BadCredentials),
        };
        if claims.sub != client_id {
            return Err(AuthRefusal::NotAuthorized);
        }
        let role = match claims.role.as_deref() {
            None | Some("device") => Role::Device,
            Some("service") => Role::Service,
            // A role we do not know grants nothing rather than a guess.
            Some(_) => return Err(AuthRefusal::NotAuthorized),
        };
        Ok(Grant {
            role,
            expires_at: claims.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"test-secret-of-thirty-two-bytes!";

    fn token(claims: serde_json::Value, secret: &[u8], alg: Algorithm) -> Vec<u8> {
        encode(&Header::new(alg), &claims, &EncodingKey::from_secret(secret))
            .unwrap()
            .into_bytes()
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn a_valid_token_grants_its_role() {
        let v = TokenVerifier::new(SECRET, 0);
        let t = token(json!({"sub": "dev-1", "exp": now() + 60}), SECRET, Algorithm::HS256);
        assert_eq!(v.verify("dev-1", Some(&t)).unwrap().role, Role::Device);
        let t = token(
            json!({"sub": "svc", "exp": now() + 60, "role": "service"}),
            SECRET,
            Algorithm::HS256,
        );
        assert_eq!(v.verify("svc", Some(&t)).unwrap().role, Role::Service);
    }

    #[test]
    fn refusals_use_the_codes_clients_can_act_on() {
        let v = TokenVerifier::new(SECRET, 0);
        let good = json!({"sub": "dev-1", "exp": now() + 60});
        let cases: Vec<(&str, Option<Vec<u8>>, AuthRefusal)> = vec![
            ("no password", None, AuthRefusal::BadCredentials),
            ("not a jwt", Some(b"hunter2".to_vec()), AuthRefusal::BadCredentials),
            (
                "other secret",
                Some(token(
                    good.clone(),
                    b"another-secret-another-secret!!!",
                    Algorithm::HS256,
                )),
                AuthRefusal::BadCredentials,
            ),
            (
                "other algorithm",
                Some(token(good.clone(), SECRET, Algorithm::HS512)),
                AuthRefusal::BadCredentials,
            ),
            (
                "expired",
                Some(token(
                    json!({"sub": "dev-1", "exp": now() - 5}),
                    SECRET,
                    Algorithm::HS256,
                )),
                AuthRefusal::NotAuthorized,
            ),
            (
                "another client's token",
                Some(token(
                    json!({"sub": "dev-2", "exp": now() + 60}),
                    SECRET,
                    Algorithm::HS256,
                )),
                AuthRefusal::NotAuthorized,
            ),
            (
                "unknown role",
                Some(token(
                    json!({"sub": "dev-1", "exp": now() + 60, "role": "root"}),
                    SECRET,
                    Algorithm::HS256,
                )),
                AuthRefusal::NotAuthorized,
            ),
            (
                "no exp",
                Some(token(json!({"sub": "dev-1"}), SECRET, Algorithm::HS256)),
                AuthRefusal::BadCredentials,
            ),
        ];
        for (what, password, want) in cases {
            assert_eq!(v.verify("dev-1", password.as_deref()), Err(want), "{what}");
        }
    }
}
