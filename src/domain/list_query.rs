//! `ListQuery`: the filter and page of a list request (SPEC §4), validated in one place for both
//! edges: REST reads it from the query string, the WebSocket from a `get_notifications` frame.

use super::inbox_filter::{InboxFilter, ListParam};
use super::invalid::Invalid;
use super::notification_type::TypeCatalog;
use super::query_string::QueryString;

/// Filter and page of a list request: the filter's `before` is the page cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: InboxFilter,
    pub limit: i64,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery { filter: InboxFilter::default(), limit: ListQuery::DEFAULT_LIMIT }
    }
}

impl ListQuery {
    /// Page size when the client names none (REST `limit`, WebSocket `get_notifications`).
    pub const DEFAULT_LIMIT: i64 = 50;
    pub const MAX_LIMIT: i64 = 200;

    /// Reads `limit` and the filter's parameters (`InboxFilter::parse`) in the order given, a
    /// later value replacing an earlier one; other names are ignored. A value that is not valid
    /// or out of range fails naming its parameter, never clamped.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, ListParam<'a>)>,
        types: &TypeCatalog,
    ) -> Result<ListQuery, Invalid> {
        let (filter, rest) = InboxFilter::parse(params, types)?;
        let mut query = ListQuery { filter, limit: ListQuery::DEFAULT_LIMIT };
        for (name, value) in rest {
            if name == "limit" {
                query.limit = limit(value)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NotificationId, NotificationType};
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
        assert_eq!(q.filter.read, Some(false));
        assert_eq!(q.filter.kinds, NotificationType::parse("meeting").into_iter().collect::<Vec<_>>());
        assert_eq!(q.filter.before.map(NotificationId::get), Some(10));
    }

    #[test]
    fn frame_values_are_json_typed() {
        let types = TypeCatalog::default();
        let (limit, before, unread) = (json!(20), json!("7"), json!(true));
        let params = [
            ("limit", ListParam::Json(&limit)),
            ("before", ListParam::Json(&before)),
            ("unread", ListParam::Json(&unread)),
        ];
        let q = ListQuery::parse(params, &types).expect("ok");
        assert_eq!((q.limit, q.filter.before.map(NotificationId::get), q.filter.read), (20, Some(7), Some(false)));
        let text = json!("true");
        let err =
            ListQuery::parse([("unread", ListParam::Json(&text))], &types).expect_err("a string is not a boolean");
        assert_eq!((err.field, err.message.as_str()), ("unread", "must be a boolean"));
        let text = json!("5");
        assert_eq!(
            ListQuery::parse([("limit", ListParam::Json(&text))], &types).expect_err("not a number").field,
            "limit"
        );
    }
}
