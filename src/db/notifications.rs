//! Notifications on `Db`: storing them (one with an idempotency key, a broadcast; group commit
//! has its own connection, `writer`), changing their read state, deleting them, and reading
//! pages and unread counts. Each method is one `Db::run` (or `run_until`) of one query of `queries/`.

use super::{Db, DbError};
use crate::domain::{
    BroadcastOutcome, Change, CreateOutcome, IdempotencyKey, Idempotent, ListQuery, NewNotification,
    NotificationContent, NotificationId, Page, RenderReply, StoredNotification, UserId,
};

impl Db {
    /// Stores one notification unless the recipient disabled its type; with an idempotency
    /// key, records the outcome's rendered reply under it in the same transaction.
    pub async fn create(
        &self,
        new: NewNotification,
        idempotency: Option<(IdempotencyKey, RenderReply<CreateOutcome>)>,
    ) -> Result<Idempotent<CreateOutcome>, DbError> {
        self.run(move |conn| dispatch!(conn, create(&new, idempotency.as_ref()))).await
    }

    /// Stores the notification for each recipient that accepts its type, in one transaction.
    /// `recipients` must be sorted and free of duplicates.
    pub async fn broadcast(
        &self,
        recipients: Vec<UserId>,
        sender: UserId,
        content: NotificationContent,
        idempotency: Option<(IdempotencyKey, RenderReply<BroadcastOutcome>)>,
    ) -> Result<Idempotent<BroadcastOutcome>, DbError> {
        self.run(move |conn| dispatch!(conn, broadcast(&recipients, sender, &content, idempotency.as_ref()))).await
    }

    /// Marks one of the user's notifications read (`read`) or unread; the row and the change.
    pub async fn mark_read(
        &self,
        user: UserId,
        id: NotificationId,
        read: bool,
    ) -> Result<(StoredNotification, Change), DbError> {
        self.run(move |conn| dispatch!(conn, set_read(user, id, read))).await
    }

    /// Marks all the user's notifications read; how many changed, and the change.
    pub async fn mark_all_read(&self, user: UserId) -> Result<(i64, Change), DbError> {
        self.run(move |conn| dispatch!(conn, mark_all_read(user))).await
    }

    /// Deletes one of the user's notifications; the change.
    pub async fn delete(&self, user: UserId, id: NotificationId) -> Result<Change, DbError> {
        self.run(move |conn| dispatch!(conn, delete(user, id))).await
    }

    /// One page of the user's notifications, newest first, from one snapshot.
    pub async fn list(&self, user: UserId, query: ListQuery) -> Result<Page, DbError> {
        self.run(move |conn| dispatch!(conn, list(user, query))).await
    }

    pub async fn unread_count(&self, user: UserId) -> Result<i64, DbError> {
        self.run(move |conn| Ok(dispatch!(conn, unread_count(user))?)).await
    }
}
