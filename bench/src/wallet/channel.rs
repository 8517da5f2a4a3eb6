//! One connection to the wallet API, plain or secure: a [`WalletRequest`] in, the wallet's
//! status and JSON body out, whichever way it travelled.

use serde_json::Value;

use crate::common::error::BenchError;
use crate::wallet::http::HttpClient;
use crate::wallet::op::WalletRequest;
use crate::wallet::secure::SecureSession;

pub enum WalletChannel {
    /// Straight HTTP, with the bearer key if the server wants one.
    Plain { http: HttpClient, bearer: Option<String> },
    /// Inside a confirmed secure session (which takes no bearer key).
    Secure(Box<SecureSession>),
}

impl WalletChannel {
    fn http(&self) -> &HttpClient {
        match self {
            WalletChannel::Plain { http, .. } => http,
            WalletChannel::Secure(session) => session.http(),
        }
    }

    /// Sends `request`; the answer must have `status`. Returns the answer's JSON body.
    pub async fn call(&mut self, request: &WalletRequest, status: u16) -> Result<Value, BenchError> {
        let addr = self.http().addr();
        let (got, body) = match self {
            WalletChannel::Plain { http, bearer } => {
                let body = (!request.body.is_empty()).then_some(request.body.as_bytes());
                let answer = http
                    .call(request.method, &request.path, bearer.as_deref(), body)
                    .await?;
                let json = serde_json::from_slice(answer.body).unwrap_or(Value::Null);
                if answer.status == status && json.is_null() {
                    return Err(BenchError::UnexpectedReply {
                        addr,
                        reply: format!(
                            "{} {}: {} with a body that is not JSON: {}",
                            request.method,
                            request.path,
                            answer.status,
                            BenchError::reply_text(answer.body)
                        ),
                    });
                }
                (answer.status, json)
            }
            WalletChannel::Secure(session) => session.call(request).await?,
        };
        if got != status {
            let inside = match self {
                WalletChannel::Plain { .. } => "",
                WalletChannel::Secure(_) => " (inside a secure record)",
            };
            return Err(BenchError::UnexpectedReply {
                addr,
                reply: format!(
                    "{} {}: {got}{inside} {} (expected {status})",
                    request.method,
                    request.path,
                    BenchError::reply_text(body.to_string().as_bytes())
                ),
            });
        }
        Ok(body)
    }
}
