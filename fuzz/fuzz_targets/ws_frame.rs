//! The WebSocket client-frame parser (`herald::ws::protocol::parse`, SPEC §5) on arbitrary
//! input: the bytes as UTF-8 when they are (a text frame the server accepted), and always through
//! the lossy conversion too. Beyond "never panics", every outcome must keep the protocol's promises:
//!
//! - a bad frame is `invalid_json` or `validation_error` (stable codes), with a message, a
//!   `field` exactly for validation errors, and an error frame that is one JSON object naming
//!   both and echoing the request id;
//! - the `request_id` is the frame's own (a string or a number, as sent), on success and on every
//!   error after the frame was read as an object with a valid `request_id`;
//! - a parsed frame's fields are within the SPEC's bounds (limit 1..=200, ids > 0, since >= 0,
//!   a non-empty token; a send_notification body without `type` and `request_id`);
//! - parsing is deterministic.

#![no_main]

use herald::domain::{Selection, StateAction, TypeCatalog, MAX_BULK_IDS};

/// Every field a refused frame may name.
const FIELDS: [&str; 25] = [
    "request_id",
    "type",
    "limit",
    "before",
    "unread",
    "notification_id",
    "since",
    "token",
    "idempotency_key",
    "category",
    "read",
    "seen",
    "archived",
    "snoozed",
    "created_after",
    "created_before",
    "data",
    "action",
    "ids",
    "filter",
    "snooze_until",
    "preferences",
    "categories",
    "query",
    "types",
];
use herald::ws::protocol::{error_frame, parse, request_id_of, ClientFrame};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    } else {
        check(&String::from_utf8_lossy(data));
    }
});

/// What the frame says its `request_id` is, read independently of the parser: `Some` only for
/// a JSON object whose `request_id` is a string or a number.
fn expected_request_id(value: Option<&Value>) -> Option<Value> {
    match value?.as_object()?.get("request_id")? {
        id @ (Value::String(_) | Value::Number(_)) => Some(id.clone()),
        _ => None,
    }
}

fn check(text: &str) {
    let value: Option<Value> = serde_json::from_str(text).ok();
    let expected_id = expected_request_id(value.as_ref());
    assert_eq!(request_id_of(text), expected_id, "request_id_of disagrees: {text:?}");

    let outcome = parse(text, &TypeCatalog::default());
    // Deterministic: the same text gives the same outcome.
    match (&outcome, parse(text, &TypeCatalog::default())) {
        (Ok(a), Ok(b)) => assert_eq!(a, &b, "{text:?}"),
        (Err(a), Err(b)) => {
            assert_eq!(a.error.code(), b.error.code(), "{text:?}");
            assert_eq!(a.error.public_message(), b.error.public_message(), "{text:?}");
            assert_eq!(a.request_id, b.request_id, "{text:?}");
        }
        _ => panic!("parse is not deterministic: {text:?}"),
    }

    match outcome {
        Ok(request) => {
            let object = value.as_ref().and_then(Value::as_object).expect("a parsed frame is a JSON object");
            assert_eq!(request.request_id, expected_id, "a parsed frame keeps its request_id: {text:?}");
            let kind = object.get("type").and_then(Value::as_str).expect("a parsed frame has a string type");
            check_frame(kind, &request.frame, text);
        }
        Err(bad) => {
            let code = bad.error.code();
            let message = bad.error.public_message();
            assert!(!message.is_empty(), "an error has a message: {text:?}");
            match code {
                "invalid_json" => {
                    // Not a JSON object: nothing to read a request_id from.
                    assert!(value.as_ref().is_none_or(|v| !v.is_object()), "invalid_json for an object: {text:?}");
                    assert_eq!(bad.request_id, None, "{text:?}");
                    assert_eq!(bad.error.field(), None, "{text:?}");
                }
                "validation_error" => {
                    assert!(
                        value.as_ref().is_some_and(Value::is_object),
                        "validation_error for a non-object: {text:?}"
                    );
                    let field = bad.error.field().expect("a validation error names its field");
                    // A filter's contradiction names both fields, comma-separated.
                    assert!(
                        field.split(',').all(|name| FIELDS.contains(&name)),
                        "unexpected field {field:?}: {text:?}"
                    );
                    if field == "request_id" {
                        assert_eq!(bad.request_id, None, "{text:?}");
                        assert_eq!(expected_id, None, "request_id refused although valid: {text:?}");
                    } else {
                        assert_eq!(bad.request_id, expected_id, "an error keeps the request_id: {text:?}");
                    }
                }
                other => panic!("unstable error code {other:?} for {text:?}"),
            }
            check_error_frame(&error_frame(&bad.error, &bad.request_id), code, &bad.request_id, text);
        }
    }
}

/// A parsed frame is within the SPEC's bounds, and its kind is the `type` that was sent.
fn check_frame(kind: &str, frame: &ClientFrame, text: &str) {
    let expected_kind = match frame {
        ClientFrame::GetNotifications { query } => {
            assert!((1..=200).contains(&query.limit), "limit {}: {text:?}", query.limit);
            assert!(query.filter.before.is_none_or(|id| id.get() > 0), "{text:?}");
            "get_notifications"
        }
        ClientFrame::MarkUnread { id } => {
            assert!(id.get() > 0, "{text:?}");
            "mark_unread"
        }
        ClientFrame::ChangeOne { action, id } => {
            assert!(id.get() > 0, "{text:?}");
            match action {
                StateAction::Seen => "mark_seen",
                StateAction::Archive => "archive",
                StateAction::Unarchive => "unarchive",
                StateAction::Snooze(_) => "snooze",
                other => panic!("a one-notification frame cannot be {other:?}: {text:?}"),
            }
        }
        ClientFrame::MarkAllSeen => "mark_all_seen",
        ClientFrame::Bulk { selection, .. } => {
            if let Selection::Ids(ids) = selection {
                assert!((1..=MAX_BULK_IDS).contains(&ids.len()), "{text:?}");
                assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids sorted, no duplicates: {text:?}");
            }
            "bulk"
        }
        ClientFrame::GetPreferences => "get_preferences",
        ClientFrame::UpdatePreferences { body } => {
            assert!(!body.contains_key("type"), "{text:?}");
            "update_preferences"
        }
        ClientFrame::MarkRead { id } => {
            assert!(id.get() > 0, "{text:?}");
            "mark_read"
        }
        ClientFrame::DeleteNotification { id } => {
            assert!(id.get() > 0, "{text:?}");
            "delete_notification"
        }
        ClientFrame::MarkAllRead => "mark_all_read",
        ClientFrame::SendNotification { body, idempotency_key } => {
            assert!(!body.contains_key("type"), "the frame's type is not the notification's: {text:?}");
            assert!(!body.contains_key("request_id"), "{text:?}");
            assert!(!body.contains_key("idempotency_key"), "the key is not content: {text:?}");
            let value: Value = serde_json::from_str(text).expect("a parsed frame is JSON");
            let sent = value.get("idempotency_key").and_then(Value::as_str);
            assert_eq!(idempotency_key.as_deref(), sent, "{text:?}");
            "send_notification"
        }
        ClientFrame::GetUnreadCount => "get_unread_count",
        ClientFrame::Sync { since } => {
            assert!(*since >= 0, "since {since}: {text:?}");
            "sync"
        }
        ClientFrame::Ping => "ping",
        ClientFrame::RefreshToken { token } => {
            assert!(!token.is_empty(), "{text:?}");
            "refresh_token"
        }
    };
    assert_eq!(kind, expected_kind, "{text:?}");
}

/// The error frame is one JSON object: `type` error, the code, a message, `field` only for
/// validation errors, and the request id echoed.
fn check_error_frame(frame: &str, code: &str, request_id: &Option<Value>, text: &str) {
    let value: Value = serde_json::from_str(frame).unwrap_or_else(|e| panic!("error frame is not JSON ({e}): {frame}"));
    let object = value.as_object().expect("error frame is an object");
    assert_eq!(object.get("type"), Some(&Value::from("error")), "{frame}");
    assert_eq!(object.get("code"), Some(&Value::from(code)), "{frame}");
    assert!(object.get("message").and_then(Value::as_str).is_some_and(|m| !m.is_empty()), "{frame}");
    assert_eq!(object.contains_key("field"), code == "validation_error", "{frame}");
    for key in object.keys() {
        assert!(["type", "code", "message", "field", "request_id"].contains(&key.as_str()), "extra key {key}: {frame}");
    }
    match (request_id, object.get("request_id")) {
        (None, None) => {}
        (Some(sent), Some(echoed)) => assert!(same_id(sent, echoed), "request_id {sent} echoed as {echoed}: {text:?}"),
        (sent, echoed) => panic!("request_id {sent:?} echoed as {echoed:?}: {text:?}"),
    }
}

/// Strings and integers are echoed exactly; a float may come back as its nearest f64.
fn same_id(sent: &Value, echoed: &Value) -> bool {
    match (sent, echoed) {
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            a == b || (a - b).abs() <= a.abs().max(b.abs()) * 4.0 * f64::EPSILON
        }
        _ => sent == echoed,
    }
}
