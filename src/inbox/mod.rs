//! The use-cases of Herald, in one place: create, broadcast, mark_read, mark_unread,
//! mark_all_read, delete, list, unread_count, preferences; the other state changes (seen,
//! archive, unarchive, snooze, bulk actions, the snooze waker's wake) are in `states`. REST handlers, WebSocket frames and
//! the CLI all call these, so every rule is written once: parse and validate, check permissions,
//! commit to the database, and only then publish the change through the broker.

use crate::broker::Broker;
use crate::db::batch::CreateBatcher;
use crate::db::{Db, DbError};
use crate::domain::{
    request_hash, BroadcastOutcome, Change, CreateOutcome, Denied, IdempotencyKey, Idempotent, InboxSnapshot, Invalid,
    ListQuery, NewNotification, NotificationContent, NotificationId, Page, Preferences, PreferencesPatch, Principal,
    Pruned, RenderReply, StorageCap, StoredNotification, StreamPos, TypeCatalog, UserId,
};
use crate::event::{Event, ServerFrame, SessionId};

mod states;

use serde_json::{Map, Value};
pub use states::Updated;
use std::sync::Arc;
use std::time::Duration;

/// Why a use-case did not happen: the input broke a rule, the caller may not do it, the
/// recipient's inbox is full of unread notifications, or storage failed (with its cause). The
/// edges map these to statuses and error frames (`crate::error`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum InboxError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("the recipient's inbox holds {} unread notifications, its storage cap: nothing was stored", .0.get())]
    InboxFull(StorageCap),
    #[error(transparent)]
    Storage(#[from] DbError),
}

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// The operation of the WebSocket `send_notification` frame, whose key is its `idempotency_key`
/// field (REST's are `create` and `broadcast`, from the `Idempotency-Key` header).
pub const SEND_NOTIFICATION: &str = "send_notification";

/// An idempotency key as an edge received it: the key, the operation it is scoped to (REST
/// `create` and `broadcast`, WebSocket `send_notification`: each records its own reply, so one
/// key in two of them names two requests) and how the reply a repeat gets is rendered.
pub struct Keyed<'a, T> {
    /// As received; `scoped_key` trims and bounds it.
    pub key: &'a str,
    pub operation: &'static str,
    pub render: RenderReply<T>,
}

#[derive(Clone)]
pub struct Inbox {
    db: Db,
    /// Creates without an idempotency key go through group commit.
    batcher: CreateBatcher,
    broker: Broker,
    max_broadcast_recipients: usize,
    /// The most notifications one user's inbox holds (`HERALD_MAX_STORED_PER_USER`).
    cap: StorageCap,
    /// Tests only (`HERALD_TEST_HANG_BEFORE_PUBLISH`): commit, then never publish.
    hang_before_publish: bool,
    /// Counts the notifications stored (`herald_notifications_created_total`).
    created: prometheus::IntCounter,
    /// The notification types accepted (`HERALD_NOTIFICATION_TYPES`).
    types: Arc<TypeCatalog>,
}

impl Inbox {
    /// `group_commit`: how long group commit may wait for a batch to fill, and the histogram
    /// of its batch sizes (see `crate::db::batch`); `cap`: the most notifications one user's
    /// inbox holds; `created` counts the notifications stored; `types`: the types accepted.
    pub fn new(
        (db, broker): (Db, Broker),
        (max_broadcast_recipients, cap): (usize, StorageCap),
        (group_commit_wait, batch_sizes): (Duration, prometheus::Histogram),
        created: prometheus::IntCounter,
        types: TypeCatalog,
    ) -> Self {
        let batcher = CreateBatcher::start(db.clone(), group_commit_wait, cap, batch_sizes);
        let types = Arc::new(types);
        Inbox { db, batcher, broker, max_broadcast_recipients, cap, hang_before_publish: false, created, types }
    }

    /// The notification types accepted, with their categories.
    pub fn types(&self) -> &TypeCatalog {
        &self.types
    }

    /// The fault switch of `HERALD_TEST_HANG_BEFORE_PUBLISH`: every use-case commits and then
    /// waits forever instead of publishing, as a node that dies between the two.
    pub fn hanging_before_publish(mut self) -> Self {
        log::warn!("HERALD_TEST_HANG_BEFORE_PUBLISH is set: changes are committed and never published");
        self.hang_before_publish = true;
        self
    }

    /// Where the fault switch stops a use-case: after its commit, before its publish.
    async fn before_publish(&self) {
        if self.hang_before_publish {
            std::future::pending::<()>().await;
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Readiness of storage: `Ok` when both ways a create takes answer, a pooled connection and
    /// the group-commit writer's own (which replaces a connection the server closed).
    pub async fn ping_database(&self) -> Result<(), DbError> {
        let (pool, writer) = tokio::join!(self.db.ping(), self.batcher.probe());
        pool.and(writer)
    }

    /// Creates one notification from a request body (`user_id` defaults to the caller). With an
    /// idempotency key, a repeat of the same request gets the reply `render` made of the first;
    /// another request under the key is `DbError::KeyReused`. At the storage cap the recipient's
    /// oldest read notifications are deleted first (pushed as `notification_deleted`); an inbox
    /// full of unread ones refuses it (`InboxFull`).
    pub async fn create(
        &self,
        caller: Principal,
        body: &Map<String, Value>,
        idempotency: Option<Keyed<'_, CreateOutcome>>,
        origin: Option<SessionId>,
    ) -> Result<Idempotent<CreateOutcome>, InboxError> {
        let new = NewNotification::parse(body, caller.user_id, &self.types)?;
        caller.ensure_may_notify(new.recipient)?;
        let result = match idempotency {
            None => Idempotent::Fresh(self.batcher.create(new).await?),
            Some(keyed) => {
                let key = scoped_key(caller, &keyed, &new.canonical())?;
                self.db.create(new, self.cap, Some((key, keyed.render))).await?
            }
        };
        match &result {
            Idempotent::Fresh(CreateOutcome::InboxFull) => return Err(InboxError::InboxFull(self.cap)),
            Idempotent::Fresh(CreateOutcome::Created { row, position, pruned }) => {
                self.created.inc();
                let live = position.map(|position| (row, position));
                let pruned = UserId::new(row.user_id).map(|user| (user, pruned));
                self.publish_notifications(live.as_slice(), pruned.as_slice(), origin).await;
            }
            _ => {}
        }
        Ok(result)
    }

    /// Creates the same notification for many users (SPEC §4 broadcast); idempotency keys as
    /// for `create`. A recipient whose inbox is full of unread notifications gets nothing and is
    /// named in the outcome (`inbox_full`); the others get it.
    pub async fn broadcast(
        &self,
        caller: Principal,
        body: &Map<String, Value>,
        idempotency: Option<Keyed<'_, BroadcastOutcome>>,
    ) -> Result<Idempotent<BroadcastOutcome>, InboxError> {
        caller.ensure_may_broadcast()?;
        let recipients = self.parse_recipients(body)?;
        let content = NotificationContent::parse(body, &self.types)?;
        let idempotency = match idempotency {
            Some(keyed) => {
                let ids: Vec<i64> = recipients.iter().map(|id| id.get()).collect();
                let request = serde_json::json!({"recipients": ids, "content": content.canonical()});
                Some((scoped_key(caller, &keyed, &request)?, keyed.render))
            }
            None => None,
        };
        let sender = caller.user_id;
        let result = self.db.broadcast(recipients, sender, (content, self.cap), idempotency).await?;
        if let Idempotent::Fresh(outcome) = &result {
            self.created.inc_by(outcome.created.len() as u64);
            let live: Vec<(&StoredNotification, StreamPos)> =
                outcome.created.iter().filter_map(|(row, position)| position.map(|position| (row, position))).collect();
            let pruned: Vec<(UserId, &Pruned)> = outcome.pruned.iter().map(|(user, pruned)| (*user, pruned)).collect();
            self.publish_notifications(&live, &pruned, None).await;
        }
        Ok(result)
    }

    /// The storage cap every inbox is held to.
    pub fn cap(&self) -> StorageCap {
        self.cap
    }

    /// A broadcast's `user_ids`: 1 to the configured most, each a valid id; sorted, without
    /// duplicates.
    pub fn parse_recipients(&self, body: &Map<String, Value>) -> Result<Vec<UserId>, Invalid> {
        let Some(Value::Array(raw)) = body.get("user_ids") else {
            return Err(Invalid::new("user_ids", "must be an array of user ids"));
        };
        if raw.is_empty() || raw.len() > self.max_broadcast_recipients {
            return Err(Invalid::new("user_ids", format!("must name 1 to {} users", self.max_broadcast_recipients)));
        }
        let mut ids = raw
            .iter()
            .map(|value| UserId::from_json(value).ok_or_else(|| Invalid::new("user_ids", UserId::INVALID)))
            .collect::<Result<Vec<_>, _>>()?;
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Marks one notification read; returns it and the counts after.
    pub async fn mark_read(
        &self,
        caller: Principal,
        id: NotificationId,
        origin: Option<SessionId>,
    ) -> Result<(StoredNotification, Change), InboxError> {
        self.set_read(caller, id, true, origin).await
    }

    /// Marks one notification unread (out of the archive or a snooze, too); returns it and the
    /// counts after.
    pub async fn mark_unread(
        &self,
        caller: Principal,
        id: NotificationId,
        origin: Option<SessionId>,
    ) -> Result<(StoredNotification, Change), InboxError> {
        self.set_read(caller, id, false, origin).await
    }

    async fn set_read(
        &self,
        caller: Principal,
        id: NotificationId,
        read: bool,
        origin: Option<SessionId>,
    ) -> Result<(StoredNotification, Change), InboxError> {
        let user = caller.user_id;
        let (row, change) = self.db.mark_read(user, id, read).await?;
        let (notification_id, unread_count, unseen_count) = (id.get(), change.unread_count, change.unseen_count);
        let frame = if read {
            ServerFrame::NotificationRead { notification_id, unread_count, unseen_count }
        } else {
            ServerFrame::NotificationUnread { notification_id, unread_count, unseen_count }
        };
        self.publish_change(user, change, origin, &frame).await;
        Ok((row, change))
    }

    /// Marks every notification of the caller read; returns how many changed, and the counts.
    pub async fn mark_all_read(
        &self,
        caller: Principal,
        origin: Option<SessionId>,
    ) -> Result<(i64, Change), InboxError> {
        let user = caller.user_id;
        let (marked, change) = self.db.mark_all_read(user).await?;
        let (unread_count, unseen_count) = (change.unread_count, change.unseen_count);
        self.publish_change(user, change, origin, &ServerFrame::AllRead { marked, unread_count, unseen_count }).await;
        Ok((marked, change))
    }

    /// Deletes one notification; returns the counts after. A second delete is `NotFound`.
    pub async fn delete(
        &self,
        caller: Principal,
        id: NotificationId,
        origin: Option<SessionId>,
    ) -> Result<Change, InboxError> {
        let user = caller.user_id;
        let change = self.db.delete(user, id).await?;
        let (unread_count, unseen_count) = (change.unread_count, change.unseen_count);
        let frame = ServerFrame::NotificationDeleted { notification_id: id.get(), unread_count, unseen_count };
        self.publish_change(user, change, origin, &frame).await;
        Ok(change)
    }

    /// Publishes a committed change, when something changed.
    async fn publish_change(&self, user: UserId, change: Change, origin: Option<SessionId>, frame: &ServerFrame<'_>) {
        self.before_publish().await;
        if let Some(position) = change.position {
            self.broker.publish(vec![Event::new(user, position, origin, frame)]);
        }
    }

    /// A page of the caller's notifications. On SQLite a `data` filter is the documented subset.
    pub async fn list(&self, caller: Principal, query: ListQuery) -> Result<Page, InboxError> {
        if self.db.is_sqlite() {
            query.filter.sqlite_subset()?;
        }
        let user = caller.user_id;
        Ok(self.db.list(user, query, self.cap).await?)
    }

    /// The caller's unread and unseen counts.
    pub async fn unread_count(&self, caller: Principal) -> Result<(i64, i64), InboxError> {
        let user = caller.user_id;
        Ok(self.db.unread_count(user).await?)
    }

    /// Unread count, change-stream position and newest id of the caller's inbox, as one snapshot.
    pub async fn snapshot(&self, caller: Principal) -> Result<InboxSnapshot, InboxError> {
        let user = caller.user_id;
        Ok(self.db.inbox_snapshot(user).await?)
    }

    /// The caller's change-stream position.
    pub async fn stream_position(&self, caller: Principal) -> Result<StreamPos, InboxError> {
        let user = caller.user_id;
        Ok(self.db.stream_position(user).await?)
    }

    /// A replay page of the caller's notifications with id above `after`, oldest first: at most
    /// `max_rows` rows and, past the first, `max_bytes` of stored content; and whether more may
    /// follow.
    pub async fn since(
        &self,
        caller: Principal,
        after: i64,
        (max_rows, max_bytes): (i64, i64),
        live_only: bool,
    ) -> Result<(Vec<StoredNotification>, bool), InboxError> {
        let user = caller.user_id;
        Ok(self.db.since(user, after, max_rows, max_bytes, live_only).await?)
    }

    /// Every configured type's preference for the caller.
    pub async fn preferences(&self, caller: Principal) -> Result<Preferences, InboxError> {
        let user = caller.user_id;
        Ok(Preferences::of(&self.types, &self.db.preferences(user).await?))
    }

    pub async fn update_preferences(
        &self,
        caller: Principal,
        body: &Map<String, Value>,
    ) -> Result<Preferences, InboxError> {
        let patch = PreferencesPatch::parse(body, &self.types)?;
        let user = caller.user_id;
        Ok(Preferences::of(&self.types, &self.db.update_preferences(user, patch).await?))
    }

    /// Publishes new notifications with their stream positions, and the read notifications
    /// pruned to make room for them (`notification_deleted`, from no session: every socket of
    /// the user drops them), serialized once each.
    async fn publish_notifications(
        &self,
        rows: &[(&StoredNotification, StreamPos)],
        pruned: &[(UserId, &Pruned)],
        origin: Option<SessionId>,
    ) {
        self.before_publish().await;
        let deleted: usize = pruned.iter().map(|(_, pruned)| pruned.deleted.len()).sum();
        let mut events: Vec<Event> = Vec::with_capacity(rows.len() + deleted);
        for &(user, pruned) in pruned {
            let (unread_count, unseen_count) = (pruned.unread_count, pruned.unseen_count);
            events.extend(pruned.deleted.iter().map(|&(notification_id, position)| {
                let frame = ServerFrame::NotificationDeleted { notification_id, unread_count, unseen_count };
                Event::new(user, position, None, &frame)
            }));
        }
        events.extend(rows.iter().filter_map(|&(row, position)| {
            let user = UserId::new(row.user_id)?;
            Some(Event::new(user, position, origin, &ServerFrame::Notification { notification: row.into() }))
        }));
        if !events.is_empty() {
            self.broker.publish(events);
        }
    }
}

/// The caller's key for its operation, once it is 1 to 255 characters (trimmed), with the
/// fingerprint of `request` (the parsed request in its canonical form).
fn scoped_key<T>(caller: Principal, keyed: &Keyed<'_, T>, request: &Value) -> Result<IdempotencyKey, Invalid> {
    let key = keyed.key.trim();
    if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
        let field = if keyed.operation == SEND_NOTIFICATION { "idempotency_key" } else { "Idempotency-Key" };
        return Err(Invalid::new(field, format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters")));
    }
    Ok(IdempotencyKey {
        caller: caller.user_id,
        scoped_key: format!("{}:{key}", keyed.operation),
        request_hash: request_hash(request),
    })
}
