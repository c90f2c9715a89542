//! Notifications: storing one with an idempotency key (without one, creates go through group
//! commit, `batch`) or a broadcast, changing read state, deleting, and reading pages and unread
//! counts. Every write is one write transaction that locks the recipient's `inbox_state` row
//! (PostgreSQL: the upsert takes the row lock) before it touches notifications, so one user's ids
//! commit in increasing order and the unread counter stays exact.

use super::connection::DbConnection;
use super::error::DbError;
use super::models::{now, NotificationInsert, StoredChunk};
use super::pool::Db;
use super::schema::{inbox_state as state, notification_preferences as prefs, notifications as n};
use super::transactions::Transactions;
use super::{idempotency, pg, preferences, sqlite};
use crate::domain::{
    BroadcastOutcome, Change, CreateOutcome, IdempotencyKey, Idempotent, ListQuery, NewNotification,
    NotificationContent, NotificationId, Page, RenderReply, StoredNotification, StreamPos, UserId,
};
use diesel::prelude::*;
use std::collections::HashMap;

impl Db {
    /// Stores one notification unless the recipient disabled its type; with an idempotency
    /// key, records the outcome's rendered reply under it in the same transaction.
    pub async fn create(
        &self,
        new: NewNotification,
        idempotency: Option<(IdempotencyKey, RenderReply<CreateOutcome>)>,
    ) -> Result<Idempotent<CreateOutcome>, DbError> {
        self.run(move |conn| {
            conn.write_transaction(|conn| {
                idempotency::once(conn, idempotency.as_ref(), |conn| {
                    let preference = preferences::preference(conn, new.recipient, new.content.kind)?;
                    if preference.enabled {
                        store(conn, &new, preference.realtime)
                    } else {
                        Ok(CreateOutcome::Suppressed)
                    }
                })
            })
        })
        .await
    }

    /// Stores the notification for each recipient that accepts its type, in one transaction.
    /// `recipients` must be sorted and free of duplicates (lock order: ascending ids).
    pub async fn broadcast(
        &self,
        recipients: Vec<UserId>,
        sender: UserId,
        content: NotificationContent,
        idempotency: Option<(IdempotencyKey, RenderReply<BroadcastOutcome>)>,
    ) -> Result<Idempotent<BroadcastOutcome>, DbError> {
        self.run(move |conn| {
            conn.write_transaction(|conn| {
                idempotency::once(conn, idempotency.as_ref(), |conn| broadcast(conn, &recipients, sender, &content))
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
                    Some(row) => Ok((row, record_change(conn, user, if read { -1 } else { 1 })?)),
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
                    record_change(conn, user, -marked)?
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
                Ok(record_change(conn, user, if was_read { 0 } else { -1 })?)
            })
        })
        .await
    }

    /// One page of the user's notifications, newest first, with the filter's total; the page,
    /// total and unread count come from one snapshot, so they agree.
    pub async fn list(&self, user: UserId, query: ListQuery) -> Result<Page, DbError> {
        self.run(move |conn| conn.read_snapshot(|conn| list(conn, user, query))).await
    }

    pub async fn unread_count(&self, user: UserId) -> Result<i64, DbError> {
        self.run(move |conn| Ok(unread_count(conn, user)?)).await
    }
}

/// Stores one accepted notification: locks the recipient's inbox row (taking the unread count
/// and, when pushed live, a stream position), then inserts it.
fn store(conn: &mut DbConnection, new: &NewNotification, realtime: bool) -> QueryResult<CreateOutcome> {
    let taken = [(new.recipient.get(), 1, i64::from(realtime))];
    let locked = match conn {
        DbConnection::Pg(c) => pg::lock_inboxes(c, &taken)?,
        DbConnection::Sqlite(c) => sqlite::lock_inboxes(c, &taken)?,
    };
    let row = diesel::insert_into(n::table)
        .values(NotificationInsert::new(new.recipient, new.sender, &new.content, realtime, now()))
        .returning(n::all_columns)
        .get_result::<StoredNotification>(conn)?;
    let position = locked.first().map(|&(_, position)| position).filter(|_| realtime);
    Ok(CreateOutcome::Created { row, position })
}

/// A broadcast's rows, `batch_rows` recipients per statement: each chunk's preferences are read,
/// then its accepting recipients' inbox rows locked and their rows inserted (per backend).
fn broadcast(
    conn: &mut DbConnection,
    recipients: &[UserId],
    sender: UserId,
    content: &NotificationContent,
) -> QueryResult<BroadcastOutcome> {
    let now = now();
    let mut created = Vec::with_capacity(recipients.len());
    let mut suppressed = 0;
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
        suppressed += chunk.len() - accepting.len();
        if accepting.is_empty() {
            continue;
        }
        let (mut locked, mut rows): StoredChunk = match conn {
            DbConnection::Pg(c) => pg::store_broadcast_chunk(c, &accepting, sender, content, now)?,
            DbConnection::Sqlite(c) => sqlite::store_broadcast_chunk(c, &accepting, sender, content, now)?,
        };
        rows.sort_by_key(|row| row.user_id);
        locked.sort_unstable();
        // Both are sorted by user id and hold one entry per accepting user, so they line up.
        created.extend(rows.into_iter().zip(locked).map(|(row, (_, position))| {
            let position = row.realtime.then_some(position);
            (row, position)
        }));
    }
    Ok(BroadcastOutcome { created, suppressed })
}

/// Records a change to the user's existing notifications: adjusts the unread count and takes
/// the next position in the user's change stream. Returns both.
fn record_change(conn: &mut DbConnection, user: UserId, unread_delta: i64) -> QueryResult<Change> {
    let (unread_count, last_seq) = diesel::update(state::table.find(user.get()))
        .set((state::unread_count.eq(state::unread_count + unread_delta), state::last_seq.eq(state::last_seq + 1)))
        .returning((state::unread_count, state::last_seq))
        .get_result::<(i64, i64)>(conn)?;
    Ok(Change { unread_count, position: Some(StreamPos::new(last_seq)) })
}

fn list(conn: &mut DbConnection, user: UserId, query: ListQuery) -> Result<Page, DbError> {
    let filtered = || {
        let mut q = n::table.filter(n::user_id.eq(user.get())).into_boxed();
        if query.unread_only {
            q = q.filter(n::is_read.eq(false));
        }
        if let Some(kind) = query.kind {
            q = q.filter(n::notification_type.eq(kind.as_str()));
        }
        q
    };
    let mut page_query = filtered();
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
    let unread_count = unread_count(conn, user)?;
    let total = if query.unread_only && query.kind.is_none() {
        unread_count
    } else {
        filtered().count().get_result::<i64>(conn)?
    };
    Ok(Page { rows, total, unread_count, next_before })
}

fn unread_count(conn: &mut DbConnection, user: UserId) -> QueryResult<i64> {
    Ok(state::table.find(user.get()).select(state::unread_count).first(conn).optional()?.unwrap_or(0))
}
