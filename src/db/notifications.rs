//! Notifications: storing one with an idempotency key (without one, creates go through group
//! commit, `batch`) or a broadcast, reading pages and counts, and the read, unread, mark-all-read
//! and delete entry points of the one state-change engine (`states`).
//! Every write is one write transaction that locks the recipient's `inbox_state` row
//! (PostgreSQL: the upsert takes the row lock) before it inserts notifications, so one user's ids
//! commit in increasing order and the unread and total counters stay exact. Creates keep each
//! inbox within the storage cap (`room`).

use super::connection::DbConnection;
use super::error::DbError;
use super::filtered::filtered;
use super::models::{now, NotificationInsert};
use super::pool::Db;
use super::room::{self, Want};
use super::schema::{inbox_state as state, notification_preferences as prefs, notifications as n};
use super::transactions::Transactions;
use super::{idempotency, pg, preferences, sqlite, states};
use crate::domain::{
    BroadcastOutcome, Change, CreateOutcome, IdempotencyKey, Idempotent, InboxFilter, ListQuery, NewNotification,
    NotificationContent, NotificationId, Page, Pruned, RenderReply, Selection, StateAction, StorageCap,
    StoredNotification, StreamPos, UserId,
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

    /// Marks one of the user's notifications read (`read`) or unread (`states`). Returns the
    /// row and the change (no position when it was already so). Another user's id is
    /// `NotFound`, exactly as a missing one.
    pub async fn mark_read(
        &self,
        user: UserId,
        id: NotificationId,
        read: bool,
    ) -> Result<(StoredNotification, Change), DbError> {
        let action = if read { StateAction::Read } else { StateAction::Unread };
        self.run(move |conn| {
            conn.write_transaction(|conn| {
                let done = states::change_states(conn, user, (action, &Selection::Ids(vec![id])), now(), true)?;
                let row = match done.rows.into_iter().next() {
                    Some(row) => row,
                    None => mine(conn, user, id)?,
                };
                Ok((row, done.change))
            })
        })
        .await
    }

    /// Marks all the user's notifications read; how many changed, and the change.
    pub async fn mark_all_read(&self, user: UserId) -> Result<(i64, Change), DbError> {
        let every = Selection::Filter(InboxFilter { read: Some(false), ..InboxFilter::default() });
        let done = self.change_states(user, (StateAction::Read, every), now(), false).await?;
        Ok((done.changed.len() as i64, done.change))
    }

    /// Deletes one of the user's notifications; the change. Another user's id, or a second
    /// delete, is `NotFound`.
    pub async fn delete(&self, user: UserId, id: NotificationId) -> Result<Change, DbError> {
        let done = self.change_states(user, (StateAction::Delete, Selection::Ids(vec![id])), now(), false).await?;
        match done.found {
            0 => Err(DbError::from(diesel::result::Error::NotFound)),
            _ => Ok(done.change),
        }
    }

    /// One page of the user's notifications, newest first, with the filter's total; the page,
    /// total and unread count come from one snapshot, so they agree. Totals cost the same
    /// whatever the inbox's size: kept counts, except with a `type` filter, counted up to `cap`
    /// (the most an inbox holds).
    pub async fn list(&self, user: UserId, query: ListQuery, cap: StorageCap) -> Result<Page, DbError> {
        self.run(move |conn| conn.read_snapshot(|conn| list(conn, user, query, cap))).await
    }

    /// The user's unread and unseen counts.
    pub async fn unread_count(&self, user: UserId) -> Result<(i64, i64), DbError> {
        self.run(move |conn| Ok(unread_counts(conn, user)?)).await
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

/// One of the user's notifications (`NotFound` when it is not theirs).
fn mine(conn: &mut DbConnection, user: UserId, id: NotificationId) -> QueryResult<StoredNotification> {
    n::table.filter(n::id.eq(id.get())).filter(n::user_id.eq(user.get())).select(n::all_columns).first(conn)
}

fn list(conn: &mut DbConnection, user: UserId, query: ListQuery, cap: StorageCap) -> Result<Page, DbError> {
    let postgres = matches!(conn, DbConnection::Pg(_));
    let filter = &query.filter;
    let mut rows = filtered(postgres, user, filter)
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
    let kept = counts(conn, user)?;
    let total = match (filter.is_plain(), filter.read) {
        (true, None) => kept.total - kept.hidden,
        // Unread notifications are never archived nor snoozed.
        (true, Some(false)) => kept.unread,
        _ => {
            let unpaged = InboxFilter { before: None, ..filter.clone() };
            filtered(postgres, user, &unpaged).select(n::id).limit(cap.get()).load::<i64>(conn)?.len() as i64
        }
    };
    Ok(Page { rows, total, unread_count: kept.unread, unseen_count: kept.unread - kept.seen_unread, next_before })
}

/// The counts kept for a user (all 0 for a user never notified).
#[derive(Debug, Default, Queryable)]
struct Kept {
    unread: i64,
    seen_unread: i64,
    total: i64,
    hidden: i64,
}

fn counts(conn: &mut DbConnection, user: UserId) -> QueryResult<Kept> {
    let columns = (state::unread_count, state::seen_unread_count, state::total_count, state::hidden_count);
    Ok(state::table.find(user.get()).select(columns).first::<Kept>(conn).optional()?.unwrap_or_default())
}

fn unread_counts(conn: &mut DbConnection, user: UserId) -> QueryResult<(i64, i64)> {
    let kept = counts(conn, user)?;
    Ok((kept.unread, kept.unread - kept.seen_unread))
}
