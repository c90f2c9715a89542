//! Notifications: storing one with an idempotency key (without one, creates go through group
//! commit, `batch`) or a broadcast, changing read state, deleting, and reading pages and counts.
//! Every write is one write transaction that locks the recipient's `inbox_state` row
//! (PostgreSQL: the upsert takes the row lock) before it inserts notifications, so one user's ids
//! commit in increasing order and the unread and total counters stay exact. Creates keep each
//! inbox within the storage cap (`room`).

use super::connection::DbConnection;
use super::error::DbError;
use super::models::{now, NotificationInsert};
use super::pool::Db;
use super::room::{self, Want};
use super::schema::{inbox_state as state, notification_preferences as prefs, notifications as n};
use super::transactions::Transactions;
use super::{idempotency, pg, preferences, sqlite};
use crate::domain::{
    BroadcastOutcome, Change, CreateOutcome, IdempotencyKey, Idempotent, ListQuery, NewNotification,
    NotificationContent, NotificationId, Page, Pruned, RenderReply, StorageCap, StoredNotification, StreamPos, UserId,
};
use diesel::prelude::*;
use std::collections::HashMap;

impl Db {
    /// Stores one notification unless the recipient disabled its type or their inbox is full of
    /// unread ones (`cap`); with an idempotency key, records the outcome's rendered reply under
    /// it in the same transaction. A full inbox rolls everything back, the key included, so a
    /// retry with the key may succeed once there is room.
    pub async fn create(
        &self,
        new: NewNotification,
        cap: StorageCap,
        idempotency: Option<(IdempotencyKey, RenderReply<CreateOutcome>)>,
    ) -> Result<Idempotent<CreateOutcome>, DbError> {
        self.run(move |conn| {
            let mut full = false;
            let stored = conn.write_transaction(|conn| {
                idempotency::once(conn, idempotency.as_ref(), |conn| {
                    let preference = preferences::preference(conn, new.recipient, new.content.kind)?;
                    if !preference.enabled {
                        return Ok(CreateOutcome::Suppressed);
                    }
                    match store(conn, cap, &new, preference.realtime)? {
                        CreateOutcome::InboxFull => {
                            full = true;
                            Err(diesel::result::Error::RollbackTransaction)
                        }
                        outcome => Ok(outcome),
                    }
                })
            });
            match stored {
                Err(_) if full => Ok(Idempotent::Fresh(CreateOutcome::InboxFull)),
                other => other,
            }
        })
        .await
    }

    /// Stores the notification for each recipient that accepts its type and has room under
    /// `cap`, in one transaction. `recipients` must be sorted and free of duplicates (lock
    /// order: ascending ids).
    pub async fn broadcast(
        &self,
        recipients: Vec<UserId>,
        sender: UserId,
        (content, cap): (NotificationContent, StorageCap),
        idempotency: Option<(IdempotencyKey, RenderReply<BroadcastOutcome>)>,
    ) -> Result<Idempotent<BroadcastOutcome>, DbError> {
        self.run(move |conn| {
            conn.write_transaction(|conn| {
                idempotency::once(conn, idempotency.as_ref(), |conn| {
                    broadcast(conn, cap, &recipients, sender, &content)
                })
            })
        })
        .await
    }

    /// Marks one of the user's notifications read (`read`) or unread. Returns the row and the
    /// change (no position when it was already so). Another user's id is `NotFound`, exactly as
    /// a missing one.
    pub async fn mark_read(
        &self,
        user: UserId,
        id: NotificationId,
        read: bool,
    ) -> Result<(StoredNotification, Change), DbError> {
        self.run(move |conn| {
            conn.write_transaction(|conn| {
                let mine = n::table.filter(n::id.eq(id.get())).filter(n::user_id.eq(user.get()));
                let updated = diesel::update(mine.filter(n::is_read.eq(!read)))
                    .set((n::is_read.eq(read), n::read_at.eq(read.then(now))))
                    .returning(n::all_columns)
                    .get_result::<StoredNotification>(conn)
                    .optional()?;
                match updated {
                    Some(row) => Ok((row, record_change(conn, user, (if read { -1 } else { 1 }, 0))?)),
                    None => {
                        let row = mine.select(n::all_columns).first::<StoredNotification>(conn)?;
                        Ok((row, Change { unread_count: unread_count(conn, user)?, position: None }))
                    }
                }
            })
        })
        .await
    }

    /// Marks all the user's notifications read; how many changed, and the change.
    pub async fn mark_all_read(&self, user: UserId) -> Result<(i64, Change), DbError> {
        self.run(move |conn| {
            conn.write_transaction(|conn| {
                let marked = diesel::update(n::table.filter(n::user_id.eq(user.get())).filter(n::is_read.eq(false)))
                    .set((n::is_read.eq(true), n::read_at.eq(Some(now()))))
                    .execute(conn)? as i64;
                let change = if marked > 0 {
                    record_change(conn, user, (-marked, 0))?
                } else {
                    Change { unread_count: unread_count(conn, user)?, position: None }
                };
                Ok((marked, change))
            })
        })
        .await
    }

    /// Deletes one of the user's notifications; the change.
    pub async fn delete(&self, user: UserId, id: NotificationId) -> Result<Change, DbError> {
        self.run(move |conn| {
            conn.write_transaction(|conn| {
                let was_read = diesel::delete(n::table.filter(n::id.eq(id.get())).filter(n::user_id.eq(user.get())))
                    .returning(n::is_read)
                    .get_result::<bool>(conn)?;
                Ok(record_change(conn, user, (if was_read { 0 } else { -1 }, -1))?)
            })
        })
        .await
    }

    /// One page of the user's notifications, newest first, with the filter's total; the page,
    /// total and unread count come from one snapshot, so they agree. Totals cost the same
    /// whatever the inbox's size: kept counts, except with a `type` filter, counted up to `cap`
    /// (the most an inbox holds).
    pub async fn list(&self, user: UserId, query: ListQuery, cap: StorageCap) -> Result<Page, DbError> {
        self.run(move |conn| conn.read_snapshot(|conn| list(conn, user, query, cap))).await
    }

    pub async fn unread_count(&self, user: UserId) -> Result<i64, DbError> {
        self.run(move |conn| Ok(unread_count(conn, user)?)).await
    }
}

/// Stores one accepted notification: locks the recipient's inbox row (taking the counts and,
/// when pushed live, a stream position), pruning their oldest read notifications first when the
/// inbox is at `cap` (`room`), then inserts it; or finds the inbox full of unread ones.
fn store(
    conn: &mut DbConnection,
    cap: StorageCap,
    new: &NewNotification,
    realtime: bool,
) -> QueryResult<CreateOutcome> {
    let user = new.recipient.get();
    let added = match conn {
        DbConnection::Pg(c) => pg::add_if_fits(c, cap, &[(user, realtime)])?.pop(),
        DbConnection::Sqlite(_) => None,
    };
    let (position, pruned) = match added {
        Some((_, last_seq)) => (realtime.then_some(last_seq), Pruned::default()),
        None => {
            let want = Want { user, live: vec![realtime] };
            let Some(mut room) = room::admit(conn, cap, &[want])?.pop().filter(|room| room.accepted == 1) else {
                return Ok(CreateOutcome::InboxFull);
            };
            (room.take(realtime), std::mem::take(&mut room.pruned))
        }
    };
    let row = diesel::insert_into(n::table)
        .values(NotificationInsert::new(new.recipient, new.sender, &new.content, realtime, now()))
        .returning(n::all_columns)
        .get_result::<StoredNotification>(conn)?;
    Ok(CreateOutcome::Created { row, position, pruned })
}

/// A broadcast's rows, `batch_rows` recipients per statement: each chunk's preferences are read,
/// then its accepting recipients' inbox rows locked and room made (`store_broadcast_chunk`).
fn broadcast(
    conn: &mut DbConnection,
    cap: StorageCap,
    recipients: &[UserId],
    sender: UserId,
    content: &NotificationContent,
) -> QueryResult<BroadcastOutcome> {
    let now = now();
    let mut outcome = BroadcastOutcome {
        created: Vec::with_capacity(recipients.len()),
        suppressed: 0,
        inbox_full: vec![],
        pruned: vec![],
    };
    for chunk in recipients.chunks(conn.batch_rows()) {
        let ids: Vec<i64> = chunk.iter().map(|u| u.get()).collect();
        let stored: HashMap<i64, (bool, bool)> = prefs::table
            .filter(prefs::notification_type.eq(content.kind.as_str()))
            .filter(prefs::user_id.eq_any(&ids))
            .select((prefs::user_id, prefs::enabled, prefs::realtime))
            .load::<(i64, bool, bool)>(conn)?
            .into_iter()
            .map(|(user, enabled, realtime)| (user, (enabled, realtime)))
            .collect();
        let accepting: Vec<(UserId, bool)> = chunk
            .iter()
            .filter_map(|user| {
                let (enabled, realtime) = stored.get(&user.get()).copied().unwrap_or((true, true));
                enabled.then_some((*user, realtime))
            })
            .collect();
        outcome.suppressed += chunk.len() - accepting.len();
        if !accepting.is_empty() {
            store_broadcast_chunk(conn, cap, &accepting, (sender, content, now), &mut outcome)?;
        }
    }
    Ok(outcome)
}

/// One chunk of a broadcast: locks the accepting recipients' inbox rows (ascending), adding the
/// notification to those it fits without pruning (PostgreSQL, one statement) and making room in
/// the others (`room`), then inserts a row for every recipient with room. A recipient whose
/// inbox is full of unread notifications gets nothing, and is reported.
fn store_broadcast_chunk(
    conn: &mut DbConnection,
    cap: StorageCap,
    accepting: &[(UserId, bool)],
    (sender, content, now): (UserId, &NotificationContent, chrono::NaiveDateTime),
    outcome: &mut BroadcastOutcome,
) -> QueryResult<()> {
    let live: Vec<(i64, bool)> = accepting.iter().map(|&(user, realtime)| (user.get(), realtime)).collect();
    let added: HashMap<i64, StreamPos> = match conn {
        DbConnection::Pg(c) => pg::add_if_fits(c, cap, &live)?.into_iter().collect(),
        DbConnection::Sqlite(_) => HashMap::new(),
    };
    let wants: Vec<Want> = live
        .iter()
        .filter(|(user, _)| !added.contains_key(user))
        .map(|&(user, realtime)| Want { user, live: vec![realtime] })
        .collect();
    let mut rooms: HashMap<i64, room::Room> = if wants.is_empty() {
        HashMap::new()
    } else {
        room::admit(conn, cap, &wants)?.into_iter().map(|room| (room.user, room)).collect()
    };
    let mut storing = Vec::with_capacity(accepting.len());
    for &(user, realtime) in accepting {
        let has_room = added.contains_key(&user.get()) || rooms.get(&user.get()).is_some_and(|room| room.accepted == 1);
        if has_room {
            storing.push((user, realtime));
        } else {
            outcome.inbox_full.push(user);
        }
    }
    if storing.is_empty() {
        return Ok(());
    }
    let mut rows = match conn {
        DbConnection::Pg(c) => pg::insert_broadcast(c, &storing, sender, content, now)?,
        DbConnection::Sqlite(c) => sqlite::insert_broadcast(c, &storing, sender, content, now)?,
    };
    rows.sort_by_key(|row| row.user_id);
    // Both ascending by user id, one row per storing recipient: they line up.
    for (row, &(user, _)) in rows.into_iter().zip(&storing) {
        let position = match (added.get(&row.user_id), rooms.get_mut(&row.user_id)) {
            (Some(&last_seq), _) => row.realtime.then_some(last_seq),
            (None, Some(room)) => {
                if !room.pruned.is_empty() {
                    outcome.pruned.push((user, std::mem::take(&mut room.pruned)));
                }
                room.take(row.realtime)
            }
            (None, None) => None,
        };
        outcome.created.push((row, position));
    }
    Ok(())
}

/// Records a change to the user's existing notifications: adjusts the unread and total counts
/// by `(unread, total)` and takes the next position in the user's change stream. Returns the
/// unread count and the position.
fn record_change(
    conn: &mut DbConnection,
    user: UserId,
    (unread_delta, total_delta): (i64, i64),
) -> QueryResult<Change> {
    let (unread_count, last_seq) = diesel::update(state::table.find(user.get()))
        .set((
            state::unread_count.eq(state::unread_count + unread_delta),
            state::total_count.eq(state::total_count + total_delta),
            state::last_seq.eq(state::last_seq + 1),
        ))
        .returning((state::unread_count, state::last_seq))
        .get_result::<(i64, i64)>(conn)?;
    Ok(Change { unread_count, position: Some(StreamPos::new(last_seq)) })
}

fn list(conn: &mut DbConnection, user: UserId, query: ListQuery, cap: StorageCap) -> Result<Page, DbError> {
    let mut page_query = n::table.filter(n::user_id.eq(user.get())).into_boxed();
    if query.unread_only {
        page_query = page_query.filter(n::is_read.eq(false));
    }
    if let Some(kind) = &query.kind {
        page_query = page_query.filter(n::notification_type.eq(kind.as_str()));
    }
    if let Some(before) = query.before {
        page_query = page_query.filter(n::id.lt(before.get()));
    }
    let mut rows = page_query
        .order(n::id.desc())
        .limit(query.limit + 1)
        .select(n::all_columns)
        .load::<StoredNotification>(conn)?;
    let next_before = if rows.len() as i64 > query.limit {
        rows.truncate(query.limit as usize);
        rows.last().map(|row| row.id)
    } else {
        None
    };
    let (unread_count, total_count) = counts(conn, user)?;
    let total = match query.kind {
        None if query.unread_only => unread_count,
        None => total_count,
        Some(kind) => count_of_type(conn, user, kind.as_str(), query.unread_only, cap)?,
    };
    Ok(Page { rows, total, unread_count, next_before })
}

#[derive(diesel::QueryableByName)]
struct Counted {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The user's notifications of one type (only unread ones when `unread_only`), counted up to
/// `cap`: no inbox holds more once the cap applies, and an older, larger one costs no more.
/// `$n` placeholders read on both backends (see `replay`).
fn count_of_type(
    conn: &mut DbConnection,
    user: UserId,
    kind: &str,
    unread_only: bool,
    cap: StorageCap,
) -> QueryResult<i64> {
    use diesel::sql_types::{BigInt, Bool, Text};
    let counted = diesel::sql_query(
        "SELECT count(*) AS n FROM (SELECT 1 FROM notifications WHERE user_id = $1 AND notification_type = $2 \
         AND (NOT is_read OR NOT $3) LIMIT $4) AS matching",
    )
    .bind::<BigInt, _>(user.get())
    .bind::<Text, _>(kind)
    .bind::<Bool, _>(unread_only)
    .bind::<BigInt, _>(cap.get())
    .get_result::<Counted>(conn)?;
    Ok(counted.n)
}

/// The user's unread and total counts (0 for a user never notified).
fn counts(conn: &mut DbConnection, user: UserId) -> QueryResult<(i64, i64)> {
    let kept =
        state::table.find(user.get()).select((state::unread_count, state::total_count)).first(conn).optional()?;
    Ok(kept.unwrap_or((0, 0)))
}

fn unread_count(conn: &mut DbConnection, user: UserId) -> QueryResult<i64> {
    Ok(state::table.find(user.get()).select(state::unread_count).first(conn).optional()?.unwrap_or(0))
}
