//! `AdminQuery`: the admin console's search over every user's notifications — whose, which
//! types, read or not, from which sender, created when, with which words in the title or
//! message — and its page (newest first, `before` an id: keyset pagination, stable while rows
//! are added). Parsed from a query string; a bad value fails naming its parameter.

use super::ids::{NotificationId, UserId};
use super::invalid::Invalid;
use super::notification_type::{NotificationType, NAME_RULE};
use super::query_string::QueryString;
use chrono::{DateTime, NaiveDateTime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminQuery {
    pub user: Option<UserId>,
    /// Any of these types (none: every type).
    pub kinds: Vec<NotificationType>,
    pub is_read: Option<bool>,
    pub sender: Option<UserId>,
    /// Created at or after (UTC).
    pub created_after: Option<NaiveDateTime>,
    /// Created before (UTC).
    pub created_before: Option<NaiveDateTime>,
    /// Words to find in the title or message, case-insensitive, as typed (matched literally).
    pub search: Option<String>,
    pub before: Option<NotificationId>,
    pub limit: i64,
}

impl AdminQuery {
    pub const DEFAULT_LIMIT: i64 = 50;
    pub const MAX_LIMIT: i64 = 200;
    /// The longest search, in characters.
    pub const MAX_SEARCH_CHARS: usize = 100;

    /// Reads `user_id`, `type` (repeated or comma-separated), `is_read`, `sender_id`,
    /// `created_after`, `created_before` (RFC 3339), `q`, `before` and `limit`; other names are
    /// ignored, a name given twice keeps its last value (`type` adds up).
    pub fn from_query_string(raw: &str) -> Result<AdminQuery, Invalid> {
        let mut query = AdminQuery {
            user: None,
            kinds: Vec::new(),
            is_read: None,
            sender: None,
            created_after: None,
            created_before: None,
            search: None,
            before: None,
            limit: Self::DEFAULT_LIMIT,
        };
        for (name, value) in QueryString::parse(raw)?.pairs() {
            match name {
                "user_id" => query.user = Some(user_id("user_id", value)?),
                "sender_id" => query.sender = Some(user_id("sender_id", value)?),
                "type" => {
                    for kind in value.split(',').filter(|k| !k.is_empty()) {
                        let kind = NotificationType::parse(kind).ok_or(Invalid::new("type", NAME_RULE))?;
                        if !query.kinds.contains(&kind) {
                            query.kinds.push(kind);
                        }
                    }
                }
                "is_read" => query.is_read = Some(boolean("is_read", value)?),
                "created_after" => query.created_after = Some(timestamp("created_after", value)?),
                "created_before" => query.created_before = Some(timestamp("created_before", value)?),
                "q" => query.search = search(value)?,
                "before" => {
                    query.before =
                        Some(NotificationId::parse_str(value).ok_or(Invalid::new("before", NotificationId::INVALID))?)
                }
                "limit" => query.limit = limit(value)?,
                _ => {}
            }
        }
        Ok(query)
    }
}

/// A page of the audit log: `limit` records with id below `before`, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditQuery {
    pub before: Option<i64>,
    pub limit: i64,
}

impl AuditQuery {
    /// Reads `before` (`next_before` of the previous page) and `limit`, as `AdminQuery` does.
    pub fn from_query_string(raw: &str) -> Result<AuditQuery, Invalid> {
        let mut query = AuditQuery { before: None, limit: AdminQuery::DEFAULT_LIMIT };
        for (name, value) in QueryString::parse(raw)?.pairs() {
            match name {
                "before" => {
                    let id =
                        NotificationId::parse_str(value).ok_or(Invalid::new("before", "must be a positive integer"))?;
                    query.before = Some(id.get());
                }
                "limit" => query.limit = limit(value)?,
                _ => {}
            }
        }
        Ok(query)
    }
}

fn user_id(field: &'static str, value: &str) -> Result<UserId, Invalid> {
    UserId::parse_str(value).ok_or(Invalid::new(field, "must be a positive integer"))
}

fn boolean(field: &'static str, value: &str) -> Result<bool, Invalid> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Invalid::new(field, "must be true or false")),
    }
}

fn timestamp(field: &'static str, value: &str) -> Result<NaiveDateTime, Invalid> {
    DateTime::parse_from_rfc3339(value)
        .map(|at| at.naive_utc())
        .map_err(|_| Invalid::new(field, "must be an RFC 3339 timestamp, e.g. 2026-12-07T10:00:00Z"))
}

fn search(value: &str) -> Result<Option<String>, Invalid> {
    let words = value.trim();
    if words.contains('\0') {
        return Err(Invalid::new("q", "must not contain NUL characters"));
    }
    if words.chars().count() > AdminQuery::MAX_SEARCH_CHARS {
        return Err(Invalid::new("q", format!("must be at most {} characters", AdminQuery::MAX_SEARCH_CHARS)));
    }
    Ok((!words.is_empty()).then(|| words.to_owned()))
}

fn limit(value: &str) -> Result<i64, Invalid> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=AdminQuery::MAX_LIMIT).contains(n))
        .ok_or_else(|| Invalid::new("limit", format!("must be an integer from 1 to {}", AdminQuery::MAX_LIMIT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_is_read_and_types_add_up() {
        let q = AdminQuery::from_query_string(
            "user_id=7&type=meeting,general&type=meeting&is_read=false&sender_id=3\
             &created_after=2026-12-01T00:00:00Z&created_before=2026-12-07T12:00:00%2B01:00&q=%20approval%20&before=90&limit=20",
        )
        .expect("valid");
        assert_eq!(q.user.map(UserId::get), Some(7));
        assert_eq!(q.kinds, [kind("meeting"), kind("general")]);
        assert_eq!((q.is_read, q.sender.map(UserId::get)), (Some(false), Some(3)));
        assert_eq!(q.created_after.map(|t| t.to_string()).as_deref(), Some("2026-12-01 00:00:00"));
        assert_eq!(q.created_before.map(|t| t.to_string()).as_deref(), Some("2026-12-07 11:00:00"), "in UTC");
        assert_eq!(q.search.as_deref(), Some("approval"));
        assert_eq!((q.before.map(NotificationId::get), q.limit), (Some(90), 20));
        assert_eq!(AdminQuery::from_query_string("q=%20%20").expect("blank").search, None);
    }

    #[test]
    fn a_bad_value_names_its_parameter() {
        let long = "x".repeat(AdminQuery::MAX_SEARCH_CHARS + 1);
        for (raw, field) in [
            ("user_id=0", "user_id"),
            ("sender_id=x", "sender_id"),
            ("type=Alert", "type"),
            ("is_read=maybe", "is_read"),
            ("created_after=yesterday", "created_after"),
            ("created_before=2026-12-07", "created_before"),
            (&format!("q={long}"), "q"),
            ("q=x%00y", "q"),
            ("before=-1", "before"),
            ("limit=201", "limit"),
        ] {
            assert_eq!(AdminQuery::from_query_string(raw).expect_err(raw).field, field, "{raw}");
        }
    }
}

/// The admin console's filter over stored preferences (a user who never changed one has the
/// default, all on, and no row): by type, enabled, realtime; ascending by user and type, in
/// pages after `after` (the `next_after` of the previous page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferenceQuery {
    pub kind: Option<NotificationType>,
    pub enabled: Option<bool>,
    pub realtime: Option<bool>,
    pub after: Option<(UserId, NotificationType)>,
    pub limit: i64,
}

impl PreferenceQuery {
    /// Reads `type`, `enabled`, `realtime`, `after` (`<user id>:<type>`) and `limit`.
    pub fn from_query_string(raw: &str) -> Result<PreferenceQuery, Invalid> {
        let mut query = PreferenceQuery {
            kind: None,
            enabled: None,
            realtime: None,
            after: None,
            limit: AdminQuery::DEFAULT_LIMIT,
        };
        for (name, value) in QueryString::parse(raw)?.pairs() {
            match name {
                "type" => query.kind = Some(NotificationType::parse(value).ok_or(Invalid::new("type", NAME_RULE))?),
                "enabled" => query.enabled = Some(boolean("enabled", value)?),
                "realtime" => query.realtime = Some(boolean("realtime", value)?),
                "after" => query.after = Some(cursor(value)?),
                "limit" => query.limit = limit(value)?,
                _ => {}
            }
        }
        Ok(query)
    }
}

/// A type name in a test.
#[cfg(test)]
fn kind(name: &str) -> NotificationType {
    NotificationType::parse(name).expect("a valid name")
}

/// `<user id>:<type>`, the last row of a preferences page.
fn cursor(value: &str) -> Result<(UserId, NotificationType), Invalid> {
    let bad = || Invalid::new("after", "must be `<user id>:<type>`, the `next_after` of the previous page");
    let (user, kind) = value.split_once(':').ok_or_else(bad)?;
    Ok((UserId::parse_str(user).ok_or_else(bad)?, NotificationType::parse(kind).ok_or_else(bad)?))
}

#[cfg(test)]
mod audit_query_tests {
    use super::*;

    #[test]
    fn the_audit_page_reads_before_and_limit() {
        let q = AuditQuery::from_query_string("before=9&limit=5").expect("valid");
        assert_eq!((q.before, q.limit), (Some(9), 5));
        assert_eq!(AuditQuery::from_query_string("").expect("empty").limit, AdminQuery::DEFAULT_LIMIT);
        for (raw, field) in [("before=0", "before"), ("limit=0", "limit"), ("limit=201", "limit")] {
            assert_eq!(AuditQuery::from_query_string(raw).expect_err(raw).field, field, "{raw}");
        }
    }
}

#[cfg(test)]
mod preference_query_tests {
    use super::*;

    #[test]
    fn filters_and_the_cursor_are_read() {
        let q = PreferenceQuery::from_query_string("type=approval&enabled=false&realtime=1&after=7:meeting&limit=3")
            .expect("valid");
        assert_eq!((q.kind, q.enabled, q.realtime, q.limit), (Some(kind("approval")), Some(false), Some(true), 3));
        assert_eq!(q.after.map(|(u, k)| (u.get(), k)), Some((7, kind("meeting"))));
        for (raw, field) in
            [("type=X", "type"), ("enabled=2", "enabled"), ("after=7", "after"), ("after=x:meeting", "after")]
        {
            assert_eq!(PreferenceQuery::from_query_string(raw).expect_err(raw).field, field, "{raw}");
        }
    }
}
