//! Notifications on `Db`: storing them (one with an idempotency key, many at once by group
//! commit, a broadcast), changing their read state, deleting them, and reading pages and
//! unread counts. Each method is one `Db::run` (or `run_until`) of one query of `queries.rs`.

use super::models::NotificationRow;
use super::{BroadcastOutcome, Change, CreateOutcome, Db, IdempotencyKey, Idempotent, ListQuery, Page, StoredReply};
use crate::domain::{NewNotification, NotificationContent, NotificationId, UserId};
use crate::error::ApiError;
use std::time::Instant;

impl Db {
    /// Stores one notification unless the recipient disabled its type; `reply` renders the
    /// outcome as the response recorded under `key`, in the same transaction.
    pub async fn create(
        &self,
        new: NewNotification,
        key: Option<IdempotencyKey>,
        reply: fn(&CreateOutcome) -> StoredReply,
    ) -> Result<Idempotent<CreateOutcome>, ApiError> {
        self.run(move |conn| dispatch!(conn, create(&new, key.as_ref(), &reply))).await
    }

    /// Stores many independent creates in one transaction (group commit), each with its own
    /// outcome, in the order given; the caller stops waiting at `deadline` (`Db::run_until`).
    pub async fn create_many(
        &self,
        deadline: Instant,
        news: Vec<NewNotification>,
    ) -> Result<Vec<CreateOutcome>, ApiError> {
        self.run_until(deadline, move |conn| dispatch!(conn, create_many(&news))).await
    }

    /// Stores the notification for each recipient that accepts its type, in one transaction.
    /// `recipients` must be sorted and free of duplicates.
    pub async fn broadcast(
        &self,
        recipients: Vec<UserId>,
        sender: UserId,
        content: NotificationContent,
        key: Option<IdempotencyKey>,
        reply: fn(&BroadcastOutcome) -> StoredReply,
    ) -> Result<Idempotent<BroadcastOutcome>, ApiError> {
        self.run(move |conn| dispatch!(conn, broadcast(&recipients, sender, &content, key.as_ref(), &reply))).await
    }

    /// Marks one of the user's notifications read (`read`) or unread; the row and the change.
    pub async fn mark_read(
        &self,
        user: UserId,
        id: NotificationId,
        read: bool,
    ) -> Result<(NotificationRow, Change), ApiError> {
        self.run(move |conn| dispatch!(conn, set_read(user, id, read))).await
    }

    /// Marks all the user's notifications read; how many changed, and the change.
    pub async fn mark_all_read(&self, user: UserId) -> Result<(i64, Change), ApiError> {
        self.run(move |conn| dispatch!(conn, mark_all_read(user))).await
    }

    /// Deletes one of the user's notifications; the change.
    pub async fn delete(&self, user: UserId, id: NotificationId) -> Result<Change, ApiError> {
        self.run(move |conn| dispatch!(conn, delete(user, id))).await
    }

    /// One page of the user's notifications, newest first, from one snapshot.
    pub async fn list(&self, user: UserId, query: ListQuery) -> Result<Page, ApiError> {
        self.run(move |conn| dispatch!(conn, list(user, query))).await
    }

    pub async fn unread_count(&self, user: UserId) -> Result<i64, ApiError> {
        self.run(move |conn| Ok(dispatch!(conn, unread_count(user))?)).await
    }
}
