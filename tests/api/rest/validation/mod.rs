//! Every validation limit of SPEC §3/§4 over REST, on both sides of each boundary; each rejection is
//! checked for its status, its error envelope, and for having stored nothing.

mod bodies;
mod broadcast;
mod create;
mod list;
mod preferences;
mod routes;

use awc::http::header::{HeaderMap, CONTENT_TYPE};
use awc::http::StatusCode;
use serde_json::Value;

const CREATE: &str = "/auth/notifications/create/";

const LIST: &str = "/auth/notifications/";

const BROADCAST: &str = "/auth/notifications/broadcast/";

const PREFERENCES: &str = "/auth/notifications/preferences/";

/// A 400 `validation_error` naming `field`.
fn assert_validation(status: StatusCode, body: &Value, field: &str, case: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
    assert_eq!(body["error"]["code"], "validation_error", "{case}: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: {body}");
    assert_eq!(body["error"]["field"], field, "{case}: {body}");
}

/// An error response: the status, the JSON Content-Type and the envelope with `code`.
fn assert_error(status: StatusCode, headers: &HeaderMap, body: &Value, expected: StatusCode, code: &str, case: &str) {
    assert_eq!(status, expected, "{case}: {body}");
    assert_json_content_type(headers, case);
    assert_eq!(body["error"]["code"], code, "{case}: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: {body}");
}

fn assert_json_content_type(headers: &HeaderMap, case: &str) {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("application/json"), "{case}: Content-Type is {content_type:?}");
}

/// `value` serialized and padded with trailing JSON whitespace to exactly `len` bytes.
fn padded_json(value: &Value, len: usize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).expect("serializes");
    assert!(bytes.len() <= len, "{} bytes do not fit in {len}", bytes.len());
    bytes.resize(len, b' ');
    bytes
}
