//! Group commit on PostgreSQL: a batch of creates as one statement (`StoreBatch`), storing
//! those whose recipient's inbox takes them without pruning, and each create's outcome matched
//! back from the rows it stored. The rest go the careful way (`super::careful`).

use super::positions::NewPositions;
use crate::db::models::{now, NOTIFICATION_COLUMNS};
use crate::domain::{CreateOutcome, NewNotification, Pruned, StorageCap, StoredNotification, StreamPos, UserId};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
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
/// user id (taking their row locks, and the counts and stream positions), and the accepted
/// creates are inserted in arrival order, each after its user's lock (the insert joins the
/// upsert's output). Only a recipient whose accepted creates all fit under the storage cap
/// without pruning gets them stored here (all or none); the others' rows are locked all the same
/// (`ON CONFLICT … DO UPDATE … WHERE` locks the rows it leaves, and a new inbox row is inserted
/// empty) and their creates left to the careful path, which never waits for another lock.
/// Every list is an array bind, so the statement has one fixed text, and its static `QueryId`
/// lets Diesel prepare it once per connection and reuse the plan. (The
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
    cap: i64,
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
        use diesel::sql_types::{Array, Nullable, Text, Timestamp};
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
             wanted AS (SELECT user_id, count(*) AS k, count(*) FILTER (WHERE realtime) AS live, count(*) <= ",
        );
        out.push_bind_param::<BigInt, _>(&self.cap)?;
        out.push_sql(
            " AS fits FROM decided WHERE enabled GROUP BY user_id), \
             locked AS (INSERT INTO inbox_state AS s (user_id, unread_count, last_seq, total_count) \
               SELECT user_id, CASE WHEN fits THEN k ELSE 0 END, CASE WHEN fits THEN live ELSE 0 END, \
               CASE WHEN fits THEN k ELSE 0 END FROM wanted ORDER BY user_id \
               ON CONFLICT (user_id) DO UPDATE SET unread_count = s.unread_count + excluded.unread_count, \
               last_seq = s.last_seq + excluded.last_seq, total_count = s.total_count + excluded.total_count \
               WHERE s.total_count + excluded.total_count <= ",
        );
        out.push_bind_param::<BigInt, _>(&self.cap)?;
        out.push_sql(
            " RETURNING user_id, last_seq), \
             stored AS (INSERT INTO notifications \
               (user_id, sender_id, notification_type, title, message, data, link, is_read, realtime, created_at) \
               SELECT d.user_id, d.sender_id, d.notification_type, d.title, d.message, d.data, d.link, \
               FALSE, d.realtime, ",
        );
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(
            " FROM decided d JOIN locked l ON l.user_id = d.user_id JOIN wanted w ON w.user_id = d.user_id \
             WHERE d.enabled AND w.fits ORDER BY d.ord RETURNING ",
        );
        out.push_sql(NOTIFICATION_COLUMNS);
        out.push_sql(") SELECT stored.*, locked.last_seq FROM stored JOIN locked ON locked.user_id = stored.user_id");
        Ok(())
    }
}

/// Stores the creates of a batch that fit without pruning, in one statement (see `StoreBatch`),
/// in the caller's transaction: each stored or suppressed one gets its outcome, in the order
/// given; `None` for the creates of recipients the statement stored nothing for (their inbox
/// needs room made or is full, or they suppressed every create). Per user, ids and stream
/// positions follow the given order.
pub fn store_fitting(
    conn: &mut PgConnection,
    cap: StorageCap,
    news: &[NewNotification],
) -> QueryResult<Vec<Option<CreateOutcome>>> {
    let batch = StoreBatch {
        users: news.iter().map(|n| n.recipient.get()).collect(),
        senders: news.iter().map(|n| n.sender.map(UserId::get)).collect(),
        kinds: news.iter().map(|n| n.content.kind.as_str()).collect(),
        titles: news.iter().map(|n| n.content.title.as_str()).collect(),
        messages: news.iter().map(|n| n.content.message.as_str()).collect(),
        data: news.iter().map(|n| n.content.data.as_str()).collect(),
        links: news.iter().map(|n| n.content.link.as_deref()).collect(),
        now: now(),
        cap: cap.get(),
    };
    let mut stored = batch.load::<StoredInBatch>(conn)?;
    stored.sort_unstable_by_key(|s| s.notification.id);
    Ok(outcomes_of_batch(news, stored))
}

/// Matches a batch's stored rows (ascending id) to its creates. The statement stores all of a
/// user's accepted creates or none, and a preference is per user and type: so for a user with
/// stored rows, a create was accepted exactly when a row of its user and type was stored, and
/// the accepted creates, in order, got the rows in id order. A user without stored rows is left
/// undecided (`None`).
fn outcomes_of_batch(news: &[NewNotification], stored: Vec<StoredInBatch>) -> Vec<Option<CreateOutcome>> {
    let accepted: HashSet<(i64, &str)> =
        stored.iter().map(|s| (s.notification.user_id, s.notification.notification_type.as_str())).collect();
    let mut taken = HashMap::<i64, (StreamPos, i64)>::new();
    for s in &stored {
        let last = StreamPos::new(s.last_seq);
        taken.entry(s.notification.user_id).or_insert((last, 0)).1 += i64::from(s.notification.realtime);
    }
    let decided: Vec<Option<bool>> = news
        .iter()
        .map(|n| {
            let user = n.recipient.get();
            taken.contains_key(&user).then(|| accepted.contains(&(user, n.content.kind.as_str())))
        })
        .collect();
    let mut positions = NewPositions::after(taken.into_iter().map(|(user, (last, advanced))| (user, last, advanced)));
    let mut rows = stored.into_iter().map(|s| s.notification);
    decided
        .into_iter()
        .map(|decided| match decided? {
            true => rows.next().map(|row| CreateOutcome::Created {
                position: positions.take(&row),
                row,
                pruned: Pruned::default(),
            }),
            false => Some(CreateOutcome::Suppressed),
        })
        .collect()
}
