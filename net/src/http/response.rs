//! Writing HTTP/1.1 responses.

use bytes::{BufMut, BytesMut};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Created,
    NoContent,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    LengthRequired,
    PayloadTooLarge,
    TooManyRequests,
    HeaderFieldsTooLarge,
    InternalError,
    ServiceUnavailable,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::Created => 201,
            Status::NoContent => 204,
            Status::BadRequest => 400,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::Conflict => 409,
            Status::LengthRequired => 411,
            Status::PayloadTooLarge => 413,
            Status::TooManyRequests => 429,
            Status::HeaderFieldsTooLarge => 431,
            Status::InternalError => 500,
            Status::ServiceUnavailable => 503,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Created => "Created",
            Status::NoContent => "No Content",
            Status::BadRequest => "Bad Request",
            Status::Unauthorized => "Unauthorized",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::Conflict => "Conflict",
            Status::LengthRequired => "Length Required",
            Status::PayloadTooLarge => "Payload Too Large",
            Status::TooManyRequests => "Too Many Requests",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalError => "Internal Server Error",
            Status::ServiceUnavailable => "Service Unavailable",
        }
    }

    /// The machine-readable code used in JSON error bodies.
    pub fn error_code(self) -> &'static str {
        match self {
            Status::BadRequest => "bad_request",
            Status::Unauthorized => "unauthorized",
            Status::Forbidden => "forbidden",
            Status::NotFound => "not_found",
            Status::MethodNotAllowed => "method_not_allowed",
            Status::RequestTimeout => "request_timeout",
            Status::Conflict => "conflict",
            Status::TooManyRequests => "too_many_requests",
            Status::LengthRequired => "length_required",
            Status::PayloadTooLarge => "payload_too_large",
            Status::HeaderFieldsTooLarge => "headers_too_large",
            Status::ServiceUnavailable => "unavailable",
            _ => "internal",
        }
    }
}

/// Appends a whole response with a Content-Length body.
pub fn write_response(out: &mut BytesMut, status: Status, content_type: &str, body: &[u8], keep_alive: bool) {
    write_response_with(out, status, content_type, None, body, keep_alive);
}

/// As [`write_response`], with one more header (`Allow` on a 405, `WWW-Authenticate` on a
/// 401). A 204 carries neither a body nor a content type.
pub fn write_response_with(
    out: &mut BytesMut,
    status: Status,
    content_type: &str,
    header: Option<(&str, &str)>,
    body: &[u8],
    keep_alive: bool,
) {
    let extra = header.map_or(String::new(), |(name, value)| format!("{name}: {value}\r\n"));
    let content = if status == Status::NoContent {
        String::new()
    } else {
        format!("content-type: {}\r\ncontent-length: {}\r\n", content_type, body.len())
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\n{content}{extra}connection: {}\r\n\r\n",
        status.code(),
        status.reason(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    // A 204 has no body (RFC 9110 §15.3.5): whatever was passed would break the framing.
    let body = if status == Status::NoContent { &[][..] } else { body };
    out.reserve(head.len() + body.len());
    out.put_slice(head.as_bytes());
    out.put_slice(body);
}

/// Appends an error response with the house JSON body `{"error": {"code", "message"}}`.
pub fn write_json_error(out: &mut BytesMut, status: Status, message: &str, keep_alive: bool) {
    let body = json_error_body(status.error_code(), message);
    write_response(out, status, "application/json", body.as_bytes(), keep_alive);
}

/// `{"error": {"code", "message"}}`, for a code more precise than a status's own.
pub fn json_error_body(code: &str, message: &str) -> String {
    format!(
        "{{\"error\":{{\"code\":{},\"message\":{}}}}}",
        json_string(code),
        json_string(message)
    )
}

/// A JSON string literal; enough escaping for error messages without pulling serde into net/.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_json() {
        let mut out = BytesMut::new();
        write_json_error(&mut out, Status::NotFound, "no \"x\"\n", true);
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.ends_with("{\"error\":{\"code\":\"not_found\",\"message\":\"no \\\"x\\\"\\u000a\"}}"));
    }
}
