//! Where a user's inbox and change stream stand (`inbox_state`), read when a socket opens,
//! resumes or repairs its stream, and by the node's position check. The pages after a position
//! are `replay`.

use super::error::DbError;
use super::pool::Db;
use super::schema::{inbox_state as state, notifications as n};
use crate::domain::{InboxSnapshot, StreamPos, UserId};
use diesel::prelude::*;

impl Db {
    /// Where the user's inbox stands: unread and unseen counts, change-stream position and newest
    /// notification id (all 0 for a user never notified), in ONE statement, so the three agree
    /// (one snapshot): a socket treats everything up to that id as shown and every position up
    /// to that one as handled. Two separate reads could disagree by a notification committed in
    /// between.
    pub async fn inbox_snapshot(&self, user: UserId) -> Result<InboxSnapshot, DbError> {
        self.run(move |conn| {
            let newest = n::table.filter(n::user_id.eq(user.get())).select(diesel::dsl::max(n::id)).single_value();
            let columns = (state::unread_count, state::seen_unread_count, state::last_seq, newest);
            let snapshot = state::table
                .find(user.get())
                .select(columns)
                .first::<(i64, i64, i64, Option<i64>)>(conn)
                .optional()?
                .map(|(unread, seen_unread, last_seq, newest)| InboxSnapshot {
                    unread_count: unread,
                    unseen_count: unread - seen_unread,
                    position: StreamPos::new(last_seq),
                    newest_id: newest.unwrap_or(0),
                });
            Ok(snapshot.unwrap_or_default())
        })
        .await
    }

    /// The user's change-stream position alone (0 for a user never notified).
    pub async fn stream_position(&self, user: UserId) -> Result<StreamPos, DbError> {
        self.run(move |conn| {
            let last_seq = state::table.find(user.get()).select(state::last_seq).first::<i64>(conn).optional()?;
            Ok(last_seq.map_or(StreamPos::ZERO, StreamPos::new))
        })
        .await
    }

    /// The change-stream positions of these users (those never notified are left out), read
    /// together for the node's position check (`crate::repair`): one statement per
    /// `batch_rows` users (on PostgreSQL one array bind, so one prepared statement whatever the
    /// count).
    pub async fn stream_positions(&self, users: Vec<UserId>) -> Result<Vec<(UserId, StreamPos)>, DbError> {
        self.run(move |conn| {
            let ids: Vec<i64> = users.iter().map(|u| u.get()).collect();
            let mut rows = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(conn.batch_rows()) {
                rows.extend(
                    state::table
                        .filter(state::user_id.eq_any(chunk))
                        .select((state::user_id, state::last_seq))
                        .load::<(i64, i64)>(conn)?,
                );
            }
            Ok(rows
                .into_iter()
                .filter_map(|(user, last_seq)| Some((UserId::new(user)?, StreamPos::new(last_seq))))
                .collect())
        })
        .await
    }
}
