//! HTTP/1.1 for the admin and API port: request heads parsed by `httparse`, bodies framed by
//! Content-Length, responses written whole.

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod request;
pub mod response;

pub use request::{progress, HttpError, HttpLimits, HttpRequest, Progress, RequestHead};
pub use response::{json_error_body, write_json_error, write_response, write_response_with, Status};
