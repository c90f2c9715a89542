//! `ListQuery`: the filter and page of a list request (SPEC §4), validated in one place for both
//! edges: REST reads it from the query string, the WebSocket from a `get_notifications` frame.

use super::ids::NotificationId;
use super::invalid::Invalid;
use super::notification_type::{NotificationType, TypeCatalog};
use super::query_string::QueryString;
use serde_json::Value;

/// Filter and page of a list request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    pub unread_only: bool,
    pub kind: Option<NotificationType>,
    pub before: Option<NotificationId>,
    pub limit: i64,
}

/// A list parameter as the client wrote it: text from a query string, JSON from a frame.
#[derive(Debug, Clone, Copy)]
pub enum ListParam<'a> {
    Text(&'a str),
    Json(&'a Value),
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery { unread_only: false, kind: None, before: None, limit: ListQuery::DEFAULT_LIMIT }
    }
}

impl ListQuery {
    /// Page size when the client names none (REST `limit`, WebSocket `get_notifications`).
    pub const DEFAULT_LIMIT: i64 = 50;
    pub const MAX_LIMIT: i64 = 200;

    /// Reads `limit`, `before`, `unread` and `type` (or `notification_type`) in the order given,
    /// a later value replacing an earlier one; other names are ignored. A value that is not
    /// valid or out of range fails naming its parameter, never clamped.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, ListParam<'a>)>,
        types: &TypeCatalog,
    ) -> Result<ListQuery, Invalid> {
        let mut query = ListQuery::default();
        for (name, value) in params {
            match name {
                "limit" => query.limit = limit(value)?,
                "before" => query.before = Some(before(value)?),
                "unread" => query.unread_only = unread(value)?,
                "type" | "notification_type" => query.kind = Some(kind(value, types)?),
                _ => {}
            }
        }
        Ok(query)
    }

    /// Reads a query string (`GET /auth/notifications/?…`), as `parse` reads its pairs.
    pub fn from_query_string(raw: &str, types: &TypeCatalog) -> Result<ListQuery, Invalid> {
        let query = QueryString::parse(raw)?;
        ListQuery::parse(query.pairs().map(|(name, value)| (name, ListParam::Text(value))), types)
    }
}

fn limit(value: ListParam<'_>) -> Result<i64, Invalid> {
    let limit = match value {
        ListParam::Text(text) => text.parse::<i64>().ok(),
        ListParam::Json(json) => json.as_i64(),
    };
    limit
        .filter(|n| (1..=ListQuery::MAX_LIMIT).contains(n))
        .ok_or_else(|| Invalid::new("limit", format!("must be an integer from 1 to {}", ListQuery::MAX_LIMIT)))
}

fn before(value: ListParam<'_>) -> Result<NotificationId, Invalid> {
    match value {
        ListParam::Text(text) => NotificationId::parse_str(text),
        ListParam::Json(json) => NotificationId::from_json(json),
    }
    .ok_or_else(|| Invalid::new("before", NotificationId::INVALID))
}

fn unread(value: ListParam<'_>) -> Result<bool, Invalid> {
    match value {
        ListParam::Text(text) => match text.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(Invalid::new("unread", "must be true or false")),
        },
        ListParam::Json(Value::Bool(unread)) => Ok(*unread),
        ListParam::Json(_) => Err(Invalid::new("unread", "must be a boolean")),
    }
}

fn kind(value: ListParam<'_>, types: &TypeCatalog) -> Result<NotificationType, Invalid> {
    match value {
        ListParam::Text(text) => types.parse_type("type", text),
        ListParam::Json(json) => types.parse_type("type", json.as_str().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_string_limits_are_checked_not_clamped() {
        let types = TypeCatalog::default();
        let parse = |raw| ListQuery::from_query_string(raw, &types);
        assert_eq!(parse("").expect("ok").limit, ListQuery::DEFAULT_LIMIT);
        assert_eq!(parse("limit=200").expect("ok").limit, 200);
        assert_eq!(parse("limit=1").expect("ok").limit, 1);
        for (raw, field) in [
            ("limit=0", "limit"),
            ("limit=201", "limit"),
            ("limit=x", "limit"),
            ("before=0", "before"),
            ("before=-1", "before"),
            ("unread=maybe", "unread"),
            ("type=alert", "type"),
        ] {
            assert_eq!(parse(raw).expect_err(raw).field, field, "{raw}");
        }
        let q = parse("unread=true&type=meeting&before=10").expect("ok");
        assert!(q.unread_only);
        assert_eq!(q.kind, NotificationType::parse("meeting"));
        assert_eq!(q.before.map(NotificationId::get), Some(10));
    }

    #[test]
    fn frame_values_are_json_typed() {
        let (limit, before, unread) = (json!(20), json!("7"), json!(true));
        let params = [
            ("limit", ListParam::Json(&limit)),
            ("before", ListParam::Json(&before)),
            ("unread", ListParam::Json(&unread)),
        ];
        let q = ListQuery::parse(params, &TypeCatalog::default()).expect("ok");
        assert_eq!((q.limit, q.before.map(NotificationId::get), q.unread_only), (20, Some(7), true));
        let text = json!("true");
        let err = ListQuery::parse([("unread", ListParam::Json(&text))], &TypeCatalog::default())
            .expect_err("a string is not a boolean");
        assert_eq!((err.field, err.message.as_str()), ("unread", "must be a boolean"));
        let text = json!("5");
        assert_eq!(
            ListQuery::parse([("limit", ListParam::Json(&text))], &TypeCatalog::default())
                .expect_err("not a number")
                .field,
            "limit"
        );
    }
}
