//! The WebSocket wire protocol (SPEC §5), client side: frames parsed into `ClientFrame` with
//! clear errors, and the error frame that answers a bad one. Everything the server sends is a
//! `crate::event::ServerFrame`.

use crate::domain::{ListParam, ListQuery, NotificationId, Selection, StateAction, TypeCatalog};
use crate::error::ApiError;
use crate::event::ServerFrame;
use bytestring::ByteString;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    GetNotifications {
        query: ListQuery,
    },
    MarkRead {
        id: NotificationId,
    },
    MarkUnread {
        id: NotificationId,
    },
    /// `mark_seen`, `archive`, `unarchive`, `snooze` (with `snooze_until`) of one notification.
    ChangeOne {
        action: StateAction,
        id: NotificationId,
    },
    MarkAllRead,
    MarkAllSeen,
    /// Any action on up to 1,000 `ids` or on a `filter`.
    Bulk {
        action: StateAction,
        selection: Selection,
    },
    GetPreferences,
    UpdatePreferences {
        body: Map<String, Value>,
    },
    DeleteNotification {
        id: NotificationId,
    },
    /// `idempotency_key`: a repeat with the same key and request gets the first reply again and
    /// creates nothing (a client retrying after a dropped socket).
    SendNotification {
        body: Map<String, Value>,
        idempotency_key: Option<String>,
    },
    GetUnreadCount,
    Sync {
        since: i64,
    },
    Ping,
    RefreshToken {
        token: String,
    },
}

/// A parsed frame and the `request_id` to echo (a string or a number, as sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub request_id: Option<Value>,
    pub frame: ClientFrame,
}

/// A frame that could not be parsed, with whatever `request_id` could be read from it.
#[derive(Debug)]
pub struct BadFrame {
    pub request_id: Option<Value>,
    pub error: ApiError,
}

pub fn parse(text: &str, types: &TypeCatalog) -> Result<Request, BadFrame> {
    let value: Value = serde_json::from_str(text).map_err(|e| BadFrame {
        request_id: None,
        error: ApiError::InvalidJson(format!("frame is not valid JSON: {e}")),
    })?;
    let Value::Object(mut body) = value else {
        return Err(BadFrame { request_id: None, error: ApiError::InvalidJson("frame must be a JSON object".into()) });
    };
    let request_id = match body.remove("request_id") {
        None | Some(Value::Null) => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id),
        Some(_) => {
            return Err(BadFrame {
                request_id: None,
                error: ApiError::validation("request_id", "must be a string or a number"),
            })
        }
    };
    let bad = |error: ApiError| BadFrame { request_id: request_id.clone(), error };
    let kind = match body.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        None | Some(Value::Null) => return Err(bad(ApiError::validation("type", "is required"))),
        Some(_) => return Err(bad(ApiError::validation("type", "must be a string"))),
    };
    let frame = match kind.as_str() {
        "get_notifications" => {
            // The frame's `type` names the frame: the type filter is `types` or `notification_type`.
            let params = body
                .iter()
                .filter(|(name, value)| name.as_str() != "type" && !value.is_null())
                .map(|(name, value)| (name.as_str(), ListParam::Json(value)));
            ClientFrame::GetNotifications { query: ListQuery::parse(params, types).map_err(|e| bad(e.into()))? }
        }
        "mark_read" => ClientFrame::MarkRead { id: notification_id(&body).map_err(bad)? },
        "mark_unread" => ClientFrame::MarkUnread { id: notification_id(&body).map_err(bad)? },
        "mark_seen" | "archive" | "unarchive" | "snooze" | "bulk" => state_frame(&kind, &body, types).map_err(bad)?,
        "mark_all_seen" => ClientFrame::MarkAllSeen,
        "get_preferences" => ClientFrame::GetPreferences,
        "update_preferences" => {
            body.remove("type");
            ClientFrame::UpdatePreferences { body }
        }
        "delete_notification" => ClientFrame::DeleteNotification { id: notification_id(&body).map_err(bad)? },
        "mark_all_read" => ClientFrame::MarkAllRead,
        "send_notification" => {
            // `type` names the frame here; the notification's type is `notification_type`.
            body.remove("type");
            let idempotency_key = match body.remove("idempotency_key") {
                None | Some(Value::Null) => None,
                Some(Value::String(key)) => Some(key),
                Some(_) => return Err(bad(ApiError::validation("idempotency_key", "must be a string"))),
            };
            ClientFrame::SendNotification { body, idempotency_key }
        }
        "get_unread_count" => ClientFrame::GetUnreadCount,
        "sync" => {
            // A missing or null `since` is refused, not read as 0: a replay of the whole history
            // is asked for with `"since": 0`, never by accident.
            let since = body
                .get("since")
                .and_then(Value::as_i64)
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad(ApiError::validation("since", "must be a non-negative integer")))?;
            ClientFrame::Sync { since }
        }
        "ping" => ClientFrame::Ping,
        "refresh_token" => match body.get("token") {
            Some(Value::String(token)) if !token.is_empty() => ClientFrame::RefreshToken { token: token.clone() },
            _ => return Err(bad(ApiError::validation("token", "is required"))),
        },
        other => return Err(bad(ApiError::validation("type", format!("unknown frame type {other:?}")))),
    };
    Ok(Request { request_id, frame })
}

/// A state frame: one notification's `mark_seen`, `archive`, `unarchive` or `snooze`, or a
/// `bulk` action (the body of REST's bulk).
fn state_frame(kind: &str, body: &Map<String, Value>, types: &TypeCatalog) -> Result<ClientFrame, ApiError> {
    let now = chrono::Utc::now().naive_utc();
    if kind == "bulk" {
        let action = StateAction::parse(body, now)?;
        return Ok(ClientFrame::Bulk { action, selection: Selection::parse(body, types)? });
    }
    let mut named = body.clone();
    named.insert("action".into(), Value::String(kind.trim_start_matches("mark_").to_owned()));
    Ok(ClientFrame::ChangeOne { action: StateAction::parse(&named, now)?, id: notification_id(body)? })
}

/// The `request_id` of any JSON object frame, valid or not (for errors about the whole frame).
pub fn request_id_of(text: &str) -> Option<Value> {
    match serde_json::from_str::<Value>(text).ok()?.get("request_id")? {
        id @ (Value::String(_) | Value::Number(_)) => Some(id.clone()),
        _ => None,
    }
}

fn notification_id(body: &Map<String, Value>) -> Result<NotificationId, ApiError> {
    body.get("notification_id")
        .and_then(NotificationId::from_json)
        .ok_or_else(|| ApiError::validation("notification_id", NotificationId::INVALID))
}

/// `{"type":"error","code","message","field"?,"retry_after"?,"request_id"?}`; the socket stays
/// open.
pub fn error_frame(error: &ApiError, request_id: &Option<Value>) -> ByteString {
    let frame = ServerFrame::Error {
        code: error.code(),
        message: error.public_message(),
        field: error.field(),
        retry_after: error.retry_after_secs(),
    };
    frame.to_reply(request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_parse_and_request_ids_are_kept_as_sent() {
        let req = parse(r#"{"type":"mark_read","notification_id":5,"request_id":"a1"}"#, &TypeCatalog::default())
            .expect("valid");
        assert_eq!(req.request_id, Some(json!("a1")));
        assert_eq!(req.frame, ClientFrame::MarkRead { id: NotificationId::new(5).expect("id") });
        let req = parse(r#"{"type":"ping","request_id":7}"#, &TypeCatalog::default()).expect("valid");
        assert_eq!(req.request_id, Some(json!(7)));
        let req = parse(r#"{"type":"get_notifications"}"#, &TypeCatalog::default()).expect("valid");
        assert_eq!(req.frame, ClientFrame::GetNotifications { query: ListQuery::default() });
    }

    #[test]
    fn bad_frames_name_the_problem_and_keep_the_request_id() {
        for (text, code) in [
            ("not json", "invalid_json"),
            ("[1,2]", "invalid_json"),
            (r#"{"request_id":1}"#, "validation_error"),
            (r#"{"type":"explode","request_id":1}"#, "validation_error"),
            (r#"{"type":"mark_read","request_id":1}"#, "validation_error"),
            (r#"{"type":"get_notifications","limit":500,"request_id":1}"#, "validation_error"),
            (r#"{"type":"sync","since":-1,"request_id":1}"#, "validation_error"),
        ] {
            let bad = parse(text, &TypeCatalog::default()).expect_err(text);
            assert_eq!(bad.error.code(), code, "{text}");
            if text.contains("request_id") && code != "invalid_json" {
                assert_eq!(bad.request_id, Some(json!(1)), "{text}");
            }
        }
    }
}
