//! Group commit on SQLite: a batch of creates in one `BEGIN IMMEDIATE` transaction, its
//! preferences read in one statement, its inbox rows upserted per user and its notifications
//! inserted in one multi-row statement.

use super::positions::NewPositions;
use crate::db::error::DbError;
use crate::db::models::{now, NotificationInsert};
use crate::db::schema::{notification_preferences as prefs, notifications as n};
use crate::db::sqlite;
use crate::db::transactions::Transactions;
use crate::domain::{CreateOutcome, NewNotification, Preference, StoredNotification, StreamPos};
use diesel::prelude::*;
use diesel::SqliteConnection;
use std::collections::HashMap;

/// Stores many independent creates in one transaction (group commit): each gets its own
/// outcome, in the order given. Per user, ids and stream positions follow the given order.
/// (PostgreSQL does it in one statement: `batch::pg::create_many`.)
pub fn create_many(conn: &mut SqliteConnection, news: &[NewNotification]) -> Result<Vec<CreateOutcome>, DbError> {
    conn.write_transaction(|conn| {
        let mut users: Vec<i64> = news.iter().map(|n| n.recipient.get()).collect();
        users.sort_unstable();
        users.dedup();
        let stored: HashMap<(i64, String), (bool, bool)> = prefs::table
            .filter(prefs::user_id.eq_any(&users))
            .select((prefs::user_id, prefs::notification_type, prefs::enabled, prefs::realtime))
            .load::<(i64, String, bool, bool)>(conn)?
            .into_iter()
            .map(|(user, kind, enabled, realtime)| ((user, kind), (enabled, realtime)))
            .collect();
        let preference = |new: &NewNotification| {
            let (enabled, realtime) = stored
                .get(&(new.recipient.get(), new.content.kind.as_str().to_owned()))
                .copied()
                .unwrap_or((true, true));
            Preference { enabled, realtime }
        };
        // Accepted creates, grouped by user (ascending: the lock order), in arrival order within.
        let mut accepted: Vec<(usize, bool)> = news
            .iter()
            .enumerate()
            .map(|(i, new)| (i, preference(new)))
            .filter(|(_, preference)| preference.enabled)
            .map(|(i, preference)| (i, preference.realtime))
            .collect();
        accepted.sort_by_key(|&(i, _)| (news[i].recipient.get(), i));
        let mut outcomes = vec![CreateOutcome::Suppressed; news.len()];
        if accepted.is_empty() {
            return Ok(outcomes);
        }
        let mut per_user: Vec<(i64, i64, i64)> = Vec::new();
        for &(i, realtime) in &accepted {
            let user = news[i].recipient.get();
            match per_user.last_mut() {
                Some(last) if last.0 == user => {
                    last.1 += 1;
                    last.2 += i64::from(realtime);
                }
                _ => per_user.push((user, 1, i64::from(realtime))),
            }
        }
        let locked: HashMap<i64, StreamPos> = sqlite::lock_inboxes(conn, &per_user)?.into_iter().collect();
        let mut positions = NewPositions::after(
            per_user
                .iter()
                .map(|&(user, _, advanced)| (user, locked.get(&user).copied().unwrap_or(StreamPos::ZERO), advanced)),
        );
        let now = now();
        let inserts: Vec<NotificationInsert> = accepted
            .iter()
            .map(|&(i, realtime)| {
                NotificationInsert::new(news[i].recipient, news[i].sender, &news[i].content, realtime, now)
            })
            .collect();
        let mut rows = diesel::insert_into(n::table)
            .values(&inserts)
            .returning(n::all_columns)
            .load::<StoredNotification>(conn)?;
        // Ids are assigned in VALUES order: sorting by id restores it.
        rows.sort_by_key(|row| row.id);
        for (&(i, _), row) in accepted.iter().zip(rows) {
            outcomes[i] = CreateOutcome::Created { position: positions.take(&row), row };
        }
        Ok(outcomes)
    })
}
