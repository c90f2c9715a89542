//! One user's notifications narrowed by an `InboxFilter`, as a query both the list (a page and
//! its total) and the bulk actions (the rows they change) start from, so the two always agree.

use super::connection::DbConnection;
use super::schema::notifications as n;
use crate::domain::{InboxFilter, UserId};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Text};
use serde_json::Value;

type Backend = <DbConnection as diesel::Connection>::Backend;

/// A boxed query over `notifications`, for either backend.
pub type Filtered<'a> = n::BoxedQuery<'a, Backend>;

/// One condition of a filter, boxed (its binds differ in type).
type Condition = Box<dyn BoxableExpression<n::table, Backend, SqlType = Bool>>;

/// `user`'s notifications that `filter` keeps (the page cursor `before` included). `data`
/// containment is `@>` on PostgreSQL (the GIN index on `data::jsonb`), and one `json_extract`
/// equality per top-level key on SQLite (the caller checked `InboxFilter::sqlite_subset`).
pub fn filtered<'a>(postgres: bool, user: UserId, filter: &'a InboxFilter) -> Filtered<'a> {
    let mut query = n::table.filter(n::user_id.eq(user.get())).into_boxed();
    if !filter.kinds.is_empty() {
        let kinds: Vec<&'a str> = filter.kinds.iter().map(|kind| kind.as_str()).collect();
        query = query.filter(n::notification_type.eq_any(kinds));
    }
    if let Some(read) = filter.read {
        query = query.filter(n::is_read.eq(read));
    }
    match filter.seen {
        Some(true) => query = query.filter(n::is_read.eq(true).or(n::seen_at.is_not_null())),
        Some(false) => query = query.filter(n::is_read.eq(false).and(n::seen_at.is_null())),
        None => {}
    }
    query = match filter.archived {
        true => query.filter(n::archived_at.is_not_null()),
        false => query.filter(n::archived_at.is_null()),
    };
    query = match filter.snoozed {
        true => query.filter(n::snoozed_until.is_not_null()),
        false => query.filter(n::snoozed_until.is_null()),
    };
    if let Some(after) = filter.created_after {
        query = query.filter(n::created_at.gt(after));
    }
    if let Some(before) = filter.created_before {
        query = query.filter(n::created_at.lt(before));
    }
    if let Some(before) = filter.before {
        query = query.filter(n::id.lt(before.get()));
    }
    if let Some(data) = &filter.data {
        query = contains(query, postgres, data);
    }
    query
}

fn contains<'a>(mut query: Filtered<'a>, postgres: bool, data: &'a str) -> Filtered<'a> {
    use diesel::dsl::sql;
    if data == "{}" {
        return query;
    }
    if postgres {
        // The partial GIN index `notifications_data` covers exactly the rows the first two
        // conditions keep (data jsonb cannot hold, an escaped NUL, is never cast).
        let contains = sql::<Bool>(r"data <> '{}' AND strpos(data, '\u0000') = 0 AND (data::jsonb) @> ")
            .bind::<Text, _>(data)
            .sql("::jsonb");
        return query.filter(contains);
    }
    let Ok(Value::Object(pairs)) = serde_json::from_str::<Value>(data) else { return query };
    for (key, value) in pairs {
        let path = format!("$.\"{key}\"");
        let extracted = sql::<Bool>("json_extract(data, ").bind::<Text, _>(path).sql(") = ");
        let equal: Condition = match value {
            Value::String(text) => Box::new(extracted.bind::<Text, _>(text)),
            Value::Bool(flag) => Box::new(extracted.bind::<BigInt, _>(i64::from(flag))),
            Value::Number(number) => match number.as_i64() {
                Some(integer) => Box::new(extracted.bind::<BigInt, _>(integer)),
                None => Box::new(extracted.bind::<Double, _>(number.as_f64().unwrap_or(f64::NAN))),
            },
            // Refused before (`InboxFilter::sqlite_subset`): matches nothing if it got here.
            _ => Box::new(sql::<Bool>("1 = 0")),
        };
        query = query.filter(equal);
    }
    query
}
