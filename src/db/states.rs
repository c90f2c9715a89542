//! Changing the state of a user's notifications: one `StateAction` on a `Selection`, in one
//! write transaction that takes ONE position in the user's change stream however many rows
//! change. Every state change (read, unread, seen, archive, unarchive, delete, snooze, wake;
//! single or bulk) goes through `change_states`, so the kept counts (`inbox_state`: unread,
//! seen-unread, total, hidden) move by what the rows did, computed from the rows as read under
//! the lock (`RowState::delta`).
//!
//! Locks: the user's inbox row first (a no-op update), then the notification rows. Every writer
//! of a user's rows takes the inbox row first (creates, pruning, retention), so the rows read
//! here cannot change before this commits.

use super::connection::DbConnection;
use super::error::DbError;
use super::filtered::filtered;
use super::pool::Db;
use super::schema::{inbox_state as state, notifications as n};
use super::transactions::Transactions;
use crate::domain::{Change, CountDelta, RowState, Selection, StateAction, StoredNotification, StreamPos, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamp};

diesel::define_sql_function!(fn coalesce(x: Nullable<Timestamp>, y: Nullable<Timestamp>) -> Nullable<Timestamp>);

/// What a state change did.
#[derive(Debug, Clone, Default)]
pub struct StateChange {
    /// The selected ids that are the user's (a single-id action on another user's id finds
    /// none: `NotFound`, as a missing one).
    pub found: usize,
    /// The ids the action changed, ascending.
    pub changed: Vec<i64>,
    /// The counts after, and the change's stream position (none when nothing changed).
    pub change: Change,
    /// The changed rows as they are now, when asked for (`with_rows`) and not deleted.
    pub rows: Vec<StoredNotification>,
}

/// The user's counts and stream position, as locked.
type Locked = (i64, i64, i64, i64, i64);

impl Db {
    /// Applies `action` to the user's notifications in `selection` at `now`. `with_rows`: also
    /// return the changed rows as they are after.
    pub async fn change_states(
        &self,
        user: UserId,
        (action, selection): (StateAction, Selection),
        now: NaiveDateTime,
        with_rows: bool,
    ) -> Result<StateChange, DbError> {
        self.run(move |conn| {
            conn.write_transaction(|conn| Ok(change_states(conn, user, (action, &selection), now, with_rows)?))
        })
        .await
    }
}

impl Db {
    /// Up to `limit` notifications whose snooze is due at `now`, as `(user, id)`, the longest
    /// due first.
    pub async fn due_snoozes(&self, now: NaiveDateTime, limit: i64) -> Result<Vec<(i64, i64)>, DbError> {
        self.run(move |conn| {
            Ok(n::table
                .filter(n::snoozed_until.le(now))
                .order(n::snoozed_until.asc())
                .limit(limit)
                .select((n::user_id, n::id))
                .load(conn)?)
        })
        .await
    }
}

pub fn change_states(
    conn: &mut DbConnection,
    user: UserId,
    (action, selection): (StateAction, &Selection),
    now: NaiveDateTime,
    with_rows: bool,
) -> QueryResult<StateChange> {
    let Some(locked) = lock_inbox(conn, user)? else {
        return Ok(StateChange::default());
    };
    let rows = selected_rows(conn, user, (action, selection), now)?;
    let found = rows.len();
    let (mut changed, mut delta) = (Vec::new(), CountDelta::default());
    for (id, row) in rows {
        if row.changed_by(action) {
            changed.push(id);
            delta = delta.plus(row.delta(action));
        }
    }
    if changed.is_empty() {
        return Ok(StateChange { found, changed, change: change_of(locked, None), rows: vec![] });
    }
    for chunk in changed.chunks(conn.batch_rows()) {
        apply(conn, chunk, action, now)?;
    }
    let after = record(conn, user, delta)?;
    let position = Some(StreamPos::new(after.4));
    let rows = match with_rows && action != StateAction::Delete {
        true => n::table.filter(n::id.eq_any(&changed)).order(n::id.asc()).select(n::all_columns).load(conn)?,
        false => vec![],
    };
    Ok(StateChange { found, changed, change: change_of(after, position), rows })
}

/// Takes the user's inbox row lock and reads its counts; `None` for a user never notified.
fn lock_inbox(conn: &mut DbConnection, user: UserId) -> QueryResult<Option<Locked>> {
    diesel::update(state::table.find(user.get()))
        .set(state::last_seq.eq(state::last_seq))
        .returning(COUNTS)
        .get_result::<Locked>(conn)
        .optional()
}

const COUNTS: (
    state::unread_count,
    state::seen_unread_count,
    state::total_count,
    state::hidden_count,
    state::last_seq,
) = (state::unread_count, state::seen_unread_count, state::total_count, state::hidden_count, state::last_seq);

fn change_of((unread, seen_unread, ..): Locked, position: Option<StreamPos>) -> Change {
    Change { unread_count: unread, unseen_count: unread - seen_unread, position }
}

/// The selected rows of the user with their states, ascending by id. A wake selects only rows
/// whose snooze is due (a row snoozed again since the waker looked is left alone).
fn selected_rows(
    conn: &mut DbConnection,
    user: UserId,
    (action, selection): (StateAction, &Selection),
    now: NaiveDateTime,
) -> QueryResult<Vec<(i64, RowState)>> {
    let postgres = matches!(conn, DbConnection::Pg(_));
    let mut query = match selection {
        Selection::Filter(filter) => filtered(postgres, user, filter),
        Selection::Ids(ids) => {
            let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
            n::table.filter(n::user_id.eq(user.get())).filter(n::id.eq_any(ids)).into_boxed()
        }
    };
    if action == StateAction::Wake {
        query = query.filter(n::snoozed_until.le(now));
    }
    let rows: Vec<(i64, bool, bool, bool, bool)> = query
        .order(n::id.asc())
        .select((
            n::id,
            n::is_read,
            n::seen_at.is_not_null(),
            n::archived_at.is_not_null(),
            n::snoozed_until.is_not_null(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, is_read, seen, archived, snoozed)| (id, RowState { is_read, seen, archived, snoozed }))
        .collect())
}

/// The rows' new columns (see `RowState::after`): a read row keeps when it was first read and
/// seen; one made unread keeps when it was seen.
fn apply(conn: &mut DbConnection, ids: &[i64], action: StateAction, now: NaiveDateTime) -> QueryResult<usize> {
    let target = n::table.filter(n::id.eq_any(ids));
    let at = Some(now).into_sql::<Nullable<Timestamp>>();
    let never = None::<NaiveDateTime>;
    let seen_by_now = coalesce(n::seen_at, coalesce(n::read_at, at));
    match action {
        StateAction::Read => diesel::update(target)
            .set((n::is_read.eq(true), n::read_at.eq(Some(now)), n::seen_at.eq(coalesce(n::seen_at, at))))
            .execute(conn),
        StateAction::Unread => diesel::update(target)
            .set((
                n::is_read.eq(false),
                n::read_at.eq(never),
                n::seen_at.eq(seen_by_now),
                n::archived_at.eq(never),
                n::snoozed_until.eq(never),
            ))
            .execute(conn),
        StateAction::Seen => diesel::update(target).set(n::seen_at.eq(Some(now))).execute(conn),
        StateAction::Archive | StateAction::Snooze(_) => {
            let (archived, snoozed) = match action {
                StateAction::Snooze(until) => (never, Some(until)),
                _ => (Some(now), never),
            };
            diesel::update(target)
                .set((
                    n::is_read.eq(true),
                    n::read_at.eq(coalesce(n::read_at, at)),
                    n::seen_at.eq(seen_by_now),
                    n::archived_at.eq(archived),
                    n::snoozed_until.eq(snoozed),
                ))
                .execute(conn)
        }
        StateAction::Unarchive => diesel::update(target).set(n::archived_at.eq(never)).execute(conn),
        StateAction::Wake => diesel::update(target)
            .set((n::is_read.eq(false), n::read_at.eq(never), n::seen_at.eq(never), n::snoozed_until.eq(never)))
            .execute(conn),
        StateAction::Delete => diesel::delete(target).execute(conn),
    }
}

/// Moves the kept counts by `delta` and takes the next stream position.
pub(super) fn record(conn: &mut DbConnection, user: UserId, delta: CountDelta) -> QueryResult<Locked> {
    diesel::update(state::table.find(user.get()))
        .set((
            state::unread_count.eq(state::unread_count + delta.unread),
            state::seen_unread_count.eq(state::seen_unread_count + delta.seen_unread),
            state::total_count.eq(state::total_count + delta.total),
            state::hidden_count.eq(state::hidden_count + delta.hidden),
            state::last_seq.eq(state::last_seq + 1),
        ))
        .returning(COUNTS)
        .get_result(conn)
}
