//! Group commit on PostgreSQL: a batch of creates as one statement (`StoreBatch`), and each
//! create's outcome matched back from the rows it stored.

use super::positions::NewPositions;
use crate::db::error::DbError;
use crate::db::models::{now, NOTIFICATION_COLUMNS};
use crate::db::transactions::Transactions;
use crate::domain::{CreateOutcome, NewNotification, StoredNotification, StreamPos, UserId};
use diesel::prelude::*;
use diesel::PgConnection;
use std::collections::{HashMap, HashSet};

/// A stored row of a group-commit batch, with its user's `last_seq` after the batch.
#[derive(diesel::QueryableByName)]
struct StoredInBatch {
    // Not `row`: the derive's own variable has that name.
    #[diesel(embed)]
    notification: StoredNotification,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_seq: i64,
}

/// A group-commit batch as ONE statement (one round trip besides BEGIN and COMMIT):
/// each create's preference is looked up, the recipients' inbox rows are upserted in ascending
/// user id (taking their row locks, and the unread counts and stream positions), and the
/// accepted creates are inserted in arrival order, each after its user's lock (the insert joins
/// the upsert's output). Every list is an array bind, so the statement has one fixed text, and
/// its static `QueryId` lets Diesel prepare it once per connection and reuse the plan. (The
/// preference lookup is a `LATERAL … LIMIT 1`, which the planner cannot turn into a join: it
/// stays one primary-key probe per create, whatever the size of the preferences table.)
/// Returns the stored rows (ids ascending in arrival order) with their user's new `last_seq`.
struct StoreBatch<'a> {
    users: Vec<i64>,
    senders: Vec<Option<i64>>,
    kinds: Vec<&'a str>,
    titles: Vec<&'a str>,
    messages: Vec<&'a str>,
    data: Vec<&'a str>,
    links: Vec<Option<&'a str>>,
    now: chrono::NaiveDateTime,
}

impl diesel::query_builder::QueryId for StoreBatch<'_> {
    type QueryId = StoreBatch<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for StoreBatch<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

impl RunQueryDsl<PgConnection> for StoreBatch<'_> {}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for StoreBatch<'_> {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
        out.push_sql("WITH input AS (SELECT * FROM unnest(");
        out.push_bind_param::<Array<BigInt>, _>(&self.users)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(&self.senders)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(&self.kinds)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.titles)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.messages)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.data)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.links)?;
        out.push_sql(
            "::text[]) WITH ORDINALITY AS t(user_id, sender_id, notification_type, title, message, data, link, ord)), \
             decided AS (SELECT i.*, p.enabled IS NOT FALSE AS enabled, p.realtime IS NOT FALSE AS realtime \
               FROM input i LEFT JOIN LATERAL (SELECT enabled, realtime FROM notification_preferences p \
               WHERE p.user_id = i.user_id AND p.notification_type = i.notification_type LIMIT 1) p ON TRUE), \
             locked AS (INSERT INTO inbox_state AS s (user_id, unread_count, last_seq) \
               SELECT user_id, count(*), count(*) FILTER (WHERE realtime) FROM decided WHERE enabled \
               GROUP BY user_id ORDER BY user_id \
               ON CONFLICT (user_id) DO UPDATE SET unread_count = s.unread_count + excluded.unread_count, \
               last_seq = s.last_seq + excluded.last_seq \
               RETURNING user_id, last_seq), \
             stored AS (INSERT INTO notifications \
               (user_id, sender_id, notification_type, title, message, data, link, is_read, realtime, created_at) \
               SELECT d.user_id, d.sender_id, d.notification_type, d.title, d.message, d.data, d.link, \
               FALSE, d.realtime, ",
        );
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(
            " FROM decided d JOIN locked l ON l.user_id = d.user_id WHERE d.enabled ORDER BY d.ord \
             RETURNING ",
        );
        out.push_sql(NOTIFICATION_COLUMNS);
        out.push_sql(") SELECT stored.*, locked.last_seq FROM stored JOIN locked ON locked.user_id = stored.user_id");
        Ok(())
    }
}

/// Stores many independent creates in one transaction of one statement (group commit, see
/// `StoreBatch`): each gets its own outcome, in the order given. Per user, ids and stream
/// positions follow the given order.
pub fn create_many(conn: &mut PgConnection, news: &[NewNotification]) -> Result<Vec<CreateOutcome>, DbError> {
    let batch = StoreBatch {
        users: news.iter().map(|n| n.recipient.get()).collect(),
        senders: news.iter().map(|n| n.sender.map(UserId::get)).collect(),
        kinds: news.iter().map(|n| n.content.kind.as_str()).collect(),
        titles: news.iter().map(|n| n.content.title.as_str()).collect(),
        messages: news.iter().map(|n| n.content.message.as_str()).collect(),
        data: news.iter().map(|n| n.content.data.as_str()).collect(),
        links: news.iter().map(|n| n.content.link.as_deref()).collect(),
        now: now(),
    };
    // In a transaction of its own rather than alone, so a batch whose callers stopped waiting
    // (a database that hung after the statement was sent) rolls back instead of committing.
    let mut stored = conn.write_transaction(|conn| batch.load::<StoredInBatch>(conn).map_err(DbError::from))?;
    stored.sort_unstable_by_key(|s| s.notification.id);
    Ok(outcomes_of_batch(news, stored))
}

/// Matches a batch's stored rows (ascending id) to its creates. A preference is per user and
/// type, so a create was accepted exactly when a row of its user and type was stored; the
/// accepted creates, in order, got the rows in id order.
fn outcomes_of_batch(news: &[NewNotification], stored: Vec<StoredInBatch>) -> Vec<CreateOutcome> {
    let accepted: HashSet<(i64, &str)> =
        stored.iter().map(|s| (s.notification.user_id, s.notification.notification_type.as_str())).collect();
    let mut taken = HashMap::<i64, (StreamPos, i64)>::new();
    for s in &stored {
        let last = StreamPos::new(s.last_seq);
        taken.entry(s.notification.user_id).or_insert((last, 0)).1 += i64::from(s.notification.realtime);
    }
    let mut positions = NewPositions::after(taken.into_iter().map(|(user, (last, advanced))| (user, last, advanced)));
    let is_accepted: Vec<bool> =
        news.iter().map(|n| accepted.contains(&(n.recipient.get(), n.content.kind.as_str()))).collect();
    let mut rows = stored.into_iter().map(|s| s.notification);
    is_accepted
        .into_iter()
        .map(|accepted| match accepted.then(|| rows.next()).flatten() {
            Some(row) => CreateOutcome::Created { position: positions.take(&row), row },
            None => CreateOutcome::Suppressed,
        })
        .collect()
}
