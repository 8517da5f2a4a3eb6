//! Parsing and checking an update request:
//! `{"state": {"desired": {...}|null, "reported": {...}|null}, "version"?: N, "clientToken"?: "..."}`.
//!
//! Other top-level members are ignored (AWS ignores what is outside `state`); `state` may hold
//! only `desired` and `reported`.

use serde_json::Value;

use super::json::{object_depth, Object};
use crate::error::ShadowError;

/// Longest `clientToken`, in bytes.
pub const CLIENT_TOKEN_BYTES_MAX: usize = 64;

/// What an update does to one section.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SectionPatch {
    /// Not in the request: the section stays as it is.
    Absent,
    /// `null`: the section is cleared.
    Clear,
    /// An object: merged into the section (RFC 7386).
    Merge(Object),
}

impl SectionPatch {
    /// The patch as the event records it: `None`, `"null"`, or the object's JSON text.
    pub(crate) fn to_text(&self) -> Option<String> {
        match self {
            SectionPatch::Absent => None,
            SectionPatch::Clear => Some("null".to_owned()),
            SectionPatch::Merge(object) => Some(Value::Object(object.clone()).to_string()),
        }
    }

    /// The patch as the request showed it, for the accepted reply.
    pub(crate) fn to_value(&self) -> Option<Value> {
        match self {
            SectionPatch::Absent => None,
            SectionPatch::Clear => Some(Value::Null),
            SectionPatch::Merge(object) => Some(Value::Object(object.clone())),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UpdateRequest {
    pub desired: SectionPatch,
    pub reported: SectionPatch,
    pub version: Option<u64>,
    pub client_token: Option<String>,
}

/// Parses and checks an update request (its size was checked before).
pub(crate) fn parse_update(bytes: &[u8], depth_max: usize) -> Result<UpdateRequest, ShadowError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|_| ShadowError::InvalidJson)?;
    let Value::Object(mut top) = value else {
        return Err(ShadowError::NotAnObject);
    };
    let client_token = token(top.remove("clientToken"))?;
    let version = match top.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or(ShadowError::InvalidVersion)?),
    };
    let Some(state) = top.remove("state") else {
        return Err(ShadowError::MissingState);
    };
    let Value::Object(mut state) = state else {
        return Err(ShadowError::InvalidState);
    };
    if state.keys().any(|k| k != "desired" && k != "reported") {
        return Err(ShadowError::UnknownStateNode);
    }
    if state.is_empty() {
        return Err(ShadowError::EmptyState);
    }
    let desired = section(state.remove("desired"), ShadowError::InvalidDesired, depth_max)?;
    let reported = section(state.remove("reported"), ShadowError::InvalidReported, depth_max)?;
    Ok(UpdateRequest {
        desired,
        reported,
        version,
        client_token,
    })
}

fn section(value: Option<Value>, invalid: ShadowError, depth_max: usize) -> Result<SectionPatch, ShadowError> {
    match value {
        None => Ok(SectionPatch::Absent),
        Some(Value::Null) => Ok(SectionPatch::Clear),
        Some(Value::Object(object)) => {
            if object_depth(&object) > depth_max {
                return Err(ShadowError::TooDeep);
            }
            Ok(SectionPatch::Merge(object))
        }
        Some(_) => Err(invalid),
    }
}

fn token(value: Option<Value>) -> Result<Option<String>, ShadowError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= CLIENT_TOKEN_BYTES_MAX => Ok(Some(s)),
        Some(Value::String(_)) => Err(ShadowError::ClientTokenTooLong),
        Some(_) => Err(ShadowError::InvalidClientToken),
    }
}

/// The `clientToken` of a request payload, if it is JSON with a valid one: for the rejected
/// reply of a refused update, and for get and delete requests (whose payload is empty or
/// `{"clientToken": "..."}`). Anything else gives `None`.
pub fn client_token(payload: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Token {
        #[serde(rename = "clientToken")]
        client_token: Option<Value>,
    }
    let parsed: Token = serde_json::from_slice(payload).ok()?;
    token(parsed.client_token).ok().flatten()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Value) -> Result<UpdateRequest, ShadowError> {
        parse_update(v.to_string().as_bytes(), 6)
    }

    #[test]
    fn well_formed_requests() {
        let r =
            parse(json!({"state": {"desired": {"a": 1}, "reported": null}, "version": 3, "clientToken": "t"})).unwrap();
        assert_eq!(
            r.desired,
            SectionPatch::Merge(json!({"a": 1}).as_object().unwrap().clone())
        );
        assert_eq!(r.reported, SectionPatch::Clear);
        assert_eq!(r.version, Some(3));
        assert_eq!(r.client_token.as_deref(), Some("t"));
        let r = parse(json!({"state": {"reported": {}}, "other": [1]})).unwrap();
        assert_eq!(r.desired, SectionPatch::Absent);
        assert_eq!(r.version, None);
        assert_eq!(r.client_token, None);
        assert_eq!(r.desired.to_text(), None);
        assert_eq!(r.reported.to_text().as_deref(), Some("{}"));
        assert_eq!(SectionPatch::Clear.to_text().as_deref(), Some("null"));
    }

    #[test]
    fn each_refusal() {
        use ShadowError::*;
        assert_eq!(parse_update(b"{", 6), Err(InvalidJson));
        assert_eq!(parse_update(b"\xff", 6), Err(InvalidJson));
        assert_eq!(parse_update(b"", 6), Err(InvalidJson));
        assert_eq!(parse(json!([1])), Err(NotAnObject));
        assert_eq!(parse(json!("s")), Err(NotAnObject));
        assert_eq!(parse(json!({"version": 1})), Err(MissingState));
        assert_eq!(parse(json!({"state": 1})), Err(InvalidState));
        assert_eq!(parse(json!({"state": null})), Err(InvalidState));
        assert_eq!(parse(json!({"state": {}})), Err(EmptyState));
        assert_eq!(parse(json!({"state": {"delta": {}}})), Err(UnknownStateNode));
        assert_eq!(parse(json!({"state": {"desired": 1}})), Err(InvalidDesired));
        assert_eq!(parse(json!({"state": {"desired": [1]}})), Err(InvalidDesired));
        assert_eq!(parse(json!({"state": {"reported": "x"}})), Err(InvalidReported));
        assert_eq!(
            parse(json!({"state": {"reported": {}}, "version": -1})),
            Err(InvalidVersion)
        );
        assert_eq!(
            parse(json!({"state": {"reported": {}}, "version": 1.5})),
            Err(InvalidVersion)
        );
        assert_eq!(
            parse(json!({"state": {"reported": {}}, "version": "1"})),
            Err(InvalidVersion)
        );
        assert_eq!(
            parse(json!({"state": {"reported": {}}, "clientToken": 5})),
            Err(InvalidClientToken)
        );
        let long = "x".repeat(65);
        assert_eq!(
            parse(json!({"state": {"reported": {}}, "clientToken": long})),
            Err(ClientTokenTooLong)
        );
        let ok = "x".repeat(64);
        assert!(parse(json!({"state": {"reported": {}}, "clientToken": ok})).is_ok());
    }

    #[test]
    fn depth_limit() {
        // The section itself is level 1: six levels pass, seven do not.
        let six = json!({"state": {"desired": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}});
        assert!(parse(six).is_ok());
        let seven = json!({"state": {"desired": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}}});
        assert_eq!(parse(seven), Err(ShadowError::TooDeep));
        let arrays = json!({"state": {"reported": {"a": [[[[[[1]]]]]]}}});
        assert_eq!(parse(arrays), Err(ShadowError::TooDeep));
        // Deeper than the parser's own limit: bad JSON, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse_update(deep.as_bytes(), 6), Err(ShadowError::InvalidJson));
    }

    #[test]
    fn client_tokens_of_any_payload() {
        assert_eq!(
            client_token(br#"{"clientToken":"abc","state":5}"#).as_deref(),
            Some("abc")
        );
        assert_eq!(client_token(br#"{"clientToken":5}"#), None);
        assert_eq!(client_token(b""), None);
        assert_eq!(client_token(b"[1]"), None);
        assert_eq!(client_token(b"{"), None);
        let long = format!(r#"{{"clientToken":"{}"}}"#, "x".repeat(65));
        assert_eq!(client_token(long.as_bytes()), None);
    }
}
