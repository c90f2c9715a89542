//! Where a user's inbox and change stream stand (`inbox_state`), read when a socket opens,
//! resumes or repairs its stream, and by the node's position check. The pages after a position
//! are `replay`.

use super::error::DbError;
use super::pool::Db;
use super::schema::{inbox_state as state, notifications as n};
use crate::domain::{InboxPosition, UserId};
use diesel::prelude::*;

impl Db {
    /// Where the user's inbox stands: unread count, change-stream position and newest
    /// notification id (all 0 for a user never notified), in ONE statement, so the three agree
    /// (one snapshot): a socket treats everything up to that id as shown and every position up
    /// to that one as handled. Two separate reads could disagree by a notification committed in
    /// between.
    pub async fn inbox_position(&self, user: UserId) -> Result<InboxPosition, DbError> {
        self.run(move |conn| {
            let newest = n::table.filter(n::user_id.eq(user.get())).select(diesel::dsl::max(n::id)).single_value();
            let (unread_count, last_seq, newest_id) = state::table
                .find(user.get())
                .select((state::unread_count, state::last_seq, newest))
                .first::<(i64, i64, Option<i64>)>(conn)
                .optional()?
                .map(|(unread, seq, newest)| (unread, seq, newest.unwrap_or(0)))
                .unwrap_or((0, 0, 0));
            Ok(InboxPosition { unread_count, last_seq, newest_id })
        })
        .await
    }

    /// The user's change-stream position alone (0 for a user never notified).
    pub async fn stream_position(&self, user: UserId) -> Result<i64, DbError> {
        self.run(move |conn| {
            Ok(state::table.find(user.get()).select(state::last_seq).first(conn).optional()?.unwrap_or(0))
        })
        .await
    }

    /// The change-stream positions of these users (those never notified are left out), read
    /// together for the node's position check (`crate::repair`): one statement per
    /// `batch_rows` users (on PostgreSQL one array bind, so one prepared statement whatever the
    /// count).
    pub async fn stream_positions(&self, users: Vec<UserId>) -> Result<Vec<(UserId, i64)>, DbError> {
        self.run(move |conn| {
            let ids: Vec<i64> = users.iter().map(|u| u.get()).collect();
            let mut positions = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(conn.batch_rows()) {
                positions.extend(
                    state::table
                        .filter(state::user_id.eq_any(chunk))
                        .select((state::user_id, state::last_seq))
                        .load::<(i64, i64)>(conn)?,
                );
            }
            Ok(positions.into_iter().filter_map(|(user, seq)| Some((UserId::new(user)?, seq))).collect())
        })
        .await
    }
}
