//! Where a user's inbox and change stream stand, and replay pages of what came after: read
//! when a socket opens, resumes or repairs its stream.

use super::{Db, DbError};
use crate::domain::{InboxPosition, StoredNotification, UserId};

impl Db {
    /// Unread count, change-stream position and newest id of the user's inbox, from one
    /// statement (so they agree).
    pub async fn inbox_position(&self, user: UserId) -> Result<InboxPosition, DbError> {
        self.run(move |conn| dispatch!(conn, inbox_position(user))).await
    }

    /// The user's change-stream position alone (0 for a user never notified).
    pub async fn stream_position(&self, user: UserId) -> Result<i64, DbError> {
        self.run(move |conn| Ok(dispatch!(conn, stream_position(user))?)).await
    }

    /// The change-stream positions of these users (those never notified are left out), read
    /// together: the node's position check (`crate::position_check`).
    pub async fn stream_positions(&self, users: Vec<UserId>) -> Result<Vec<(UserId, i64)>, DbError> {
        self.run(move |conn| {
            let ids: Vec<i64> = users.iter().map(|u| u.get()).collect();
            let positions = dispatch!(conn, stream_positions(&ids))?;
            Ok(positions.into_iter().filter_map(|(user, seq)| Some((UserId::new(user)?, seq))).collect())
        })
        .await
    }

    /// A replay page of the user's notifications with id above `after`, oldest first: at most
    /// `max_rows` rows and, past the first, `max_bytes` of stored text; and whether more may
    /// follow. `live_only` leaves out those the user asked not to have pushed.
    pub async fn since(
        &self,
        user: UserId,
        after: i64,
        max_rows: i64,
        max_bytes: i64,
        live_only: bool,
    ) -> Result<(Vec<StoredNotification>, bool), DbError> {
        self.run(move |conn| Ok(dispatch!(conn, since(user, after, max_rows, max_bytes, live_only))?)).await
    }
}
