//! Group commit's careful path, the same on both backends: the creates PostgreSQL's one
//! statement left (their recipient's inbox needs read notifications pruned first, or is full),
//! and on SQLite every create. Their preferences are read in one statement, room is made per
//! recipient (`crate::db::room`), and the creates with room are inserted in one multi-row
//! statement in arrival order; a create whose recipient's inbox is full of unread ones is
//! `InboxFull`, alone: the batch's other creates are stored.

use crate::db::connection::DbConnection;
use crate::db::error::DbError;
use crate::db::models::{now, NotificationInsert};
use crate::db::room::{self, Room, Want};
use crate::db::schema::{notification_preferences as prefs, notifications as n};
use crate::db::transactions::Transactions;
use crate::domain::{CreateOutcome, NewNotification, StorageCap, StoredNotification};
use diesel::prelude::*;
use std::collections::HashMap;

/// Stores many independent creates in one transaction (group commit): each gets its own
/// outcome, in the order given. Per user, ids and stream positions follow the given order.
pub fn create_many(
    conn: &mut DbConnection,
    cap: StorageCap,
    news: &[NewNotification],
) -> Result<Vec<CreateOutcome>, DbError> {
    conn.write_transaction(|conn| {
        let mut outcomes = match conn {
            DbConnection::Pg(c) => super::pg::store_fitting(c, cap, news)?,
            DbConnection::Sqlite(_) => vec![None; news.len()],
        };
        store_rest(conn, cap, news, &mut outcomes)?;
        Ok(outcomes.into_iter().map(|outcome| outcome.unwrap_or(CreateOutcome::Suppressed)).collect())
    })
}

/// Decides every create still `None` in `outcomes`: suppressed by its preference, stored after
/// room is made, or `InboxFull`.
fn store_rest(
    conn: &mut DbConnection,
    cap: StorageCap,
    news: &[NewNotification],
    outcomes: &mut [Option<CreateOutcome>],
) -> QueryResult<()> {
    let (wants, indices) = wanted(conn, news, outcomes)?;
    if wants.is_empty() {
        return Ok(());
    }
    let mut rooms: HashMap<i64, Room> =
        room::admit(conn, cap, &wants)?.into_iter().map(|room| (room.user, room)).collect();
    let mut storing: Vec<(usize, bool)> = Vec::new();
    for (want, indices) in wants.iter().zip(&indices) {
        let taken = rooms.get(&want.user).map(|room| room.accepted);
        for (nth, (&i, &realtime)) in indices.iter().zip(&want.live).enumerate() {
            outcomes[i] = match taken {
                // The statement did not lock this user: it did not want these creates.
                None => Some(CreateOutcome::Suppressed),
                Some(taken) if nth < taken => {
                    storing.push((i, realtime));
                    None
                }
                Some(_) => Some(CreateOutcome::InboxFull),
            };
        }
    }
    if storing.is_empty() {
        return Ok(());
    }
    storing.sort_unstable();
    let now = now();
    let inserts: Vec<NotificationInsert> = storing
        .iter()
        .map(|&(i, realtime)| {
            NotificationInsert::new(news[i].recipient, news[i].sender, &news[i].content, realtime, now)
        })
        .collect();
    let mut rows: Vec<StoredNotification> = match conn {
        DbConnection::Pg(c) => diesel::insert_into(n::table).values(&inserts).returning(n::all_columns).load(c)?,
        DbConnection::Sqlite(c) => diesel::insert_into(n::table).values(&inserts).returning(n::all_columns).load(c)?,
    };
    // Ids are assigned in VALUES order: sorting by id restores it (arrival order).
    rows.sort_by_key(|row| row.id);
    for (&(i, realtime), row) in storing.iter().zip(rows) {
        let Some(room) = rooms.get_mut(&row.user_id) else { continue };
        let pruned = std::mem::take(&mut room.pruned);
        outcomes[i] = Some(CreateOutcome::Created { position: room.take(realtime), row, pruned });
    }
    Ok(())
}

/// The undecided creates' preferences, read in one statement: a suppressed one is decided
/// here; the accepted ones are returned as one `Want` per user (ascending: the lock order), with
/// their indices in arrival order.
fn wanted(
    conn: &mut DbConnection,
    news: &[NewNotification],
    outcomes: &mut [Option<CreateOutcome>],
) -> QueryResult<(Vec<Want>, Vec<Vec<usize>>)> {
    let pending: Vec<usize> = (0..news.len()).filter(|&i| outcomes[i].is_none()).collect();
    if pending.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut users: Vec<i64> = pending.iter().map(|&i| news[i].recipient.get()).collect();
    users.sort_unstable();
    users.dedup();
    let stored: HashMap<(i64, String), (bool, bool)> = prefs::table
        .filter(prefs::user_id.eq_any(&users))
        .select((prefs::user_id, prefs::notification_type, prefs::enabled, prefs::realtime))
        .load::<(i64, String, bool, bool)>(conn)?
        .into_iter()
        .map(|(user, kind, enabled, realtime)| ((user, kind), (enabled, realtime)))
        .collect();
    let mut accepted: Vec<(usize, bool)> = Vec::with_capacity(pending.len());
    for i in pending {
        let key = (news[i].recipient.get(), news[i].content.kind.as_str().to_owned());
        match stored.get(&key).copied().unwrap_or((true, true)) {
            (true, realtime) => accepted.push((i, realtime)),
            (false, _) => outcomes[i] = Some(CreateOutcome::Suppressed),
        }
    }
    accepted.sort_by_key(|&(i, _)| (news[i].recipient.get(), i));
    let (mut wants, mut indices): (Vec<Want>, Vec<Vec<usize>>) = (Vec::new(), Vec::new());
    for (i, realtime) in accepted {
        let user = news[i].recipient.get();
        match (wants.last_mut(), indices.last_mut()) {
            (Some(want), Some(same)) if want.user == user => {
                want.live.push(realtime);
                same.push(i);
            }
            _ => {
                wants.push(Want { user, live: vec![realtime] });
                indices.push(vec![i]);
            }
        }
    }
    Ok((wants, indices))
}
