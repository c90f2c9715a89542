//! The state use-cases beyond read and delete: seen, archive, unarchive, snooze (one
//! notification or all those of a filter), bulk actions (any `StateAction` on up to 1,000 ids or
//! on a filter) and the snooze waker's wake. Each commits one transaction with one stream
//! position (`Db::change_states`) and publishes one `notifications_updated` frame, however many
//! rows changed.

use super::{Inbox, InboxError};
use crate::db::{now, DbError, StateChange};
use crate::domain::{Change, InboxFilter, NotificationId, Principal, Selection, StateAction, UserId, MAX_BULK_IDS};
use crate::event::{Event, FilterView, Notifications, ServerFrame, SessionId};

/// What a state action did: the counts after, the ids it changed, and how to tell the tabs.
#[derive(Debug, Clone)]
pub struct Updated {
    pub action: StateAction,
    pub selection: Selection,
    /// Ascending.
    pub changed: Vec<i64>,
    pub change: Change,
}

impl Updated {
    /// The `notifications_updated` frame: the ids when at most `MAX_BULK_IDS` changed, else the
    /// filter the action was given.
    pub fn frame(&self) -> ServerFrame<'_> {
        let few = self.changed.len() <= MAX_BULK_IDS;
        let filter = match &self.selection {
            Selection::Filter(filter) if !few => Some(FilterView(filter)),
            _ => None,
        };
        ServerFrame::NotificationsUpdated {
            action: self.action.name(),
            ids: few.then_some(self.changed.as_slice()),
            filter,
            changed: self.changed.len(),
            snooze_until: match self.action {
                StateAction::Snooze(until) => Some(until),
                _ => None,
            },
            unread_count: self.change.unread_count,
            unseen_count: self.change.unseen_count,
        }
    }
}

impl Inbox {
    /// Applies `action` to the caller's notifications in `selection`; publishes one frame when
    /// something changed. Ids that are not the caller's change nothing and are not told apart
    /// from missing ones.
    pub async fn change_states(
        &self,
        caller: Principal,
        (action, selection): (StateAction, Selection),
        origin: Option<SessionId>,
    ) -> Result<Updated, InboxError> {
        if let (Selection::Filter(filter), true) = (&selection, self.db.is_sqlite()) {
            filter.sqlite_subset()?;
        }
        let user = caller.user_id;
        let done = self.db.change_states(user, (action, selection.clone()), now(), false).await?;
        let updated = Updated { action, selection, changed: done.changed, change: done.change };
        self.publish_change(user, updated.change, origin, &updated.frame()).await;
        Ok(updated)
    }

    /// One notification's action (seen, archive, unarchive, snooze): `NotFound` when it is not
    /// the caller's.
    pub async fn change_one(
        &self,
        caller: Principal,
        (action, id): (StateAction, NotificationId),
        origin: Option<SessionId>,
    ) -> Result<Updated, InboxError> {
        let user = caller.user_id;
        let done = self.db.change_states(user, (action, Selection::Ids(vec![id])), now(), false).await?;
        if done.found == 0 {
            return Err(InboxError::Storage(DbError::NotFound));
        }
        let updated =
            Updated { action, selection: Selection::Ids(vec![id]), changed: done.changed, change: done.change };
        self.publish_change(user, updated.change, origin, &updated.frame()).await;
        Ok(updated)
    }

    /// Marks every unseen notification of the caller seen (the panel was opened).
    pub async fn mark_all_seen(&self, caller: Principal, origin: Option<SessionId>) -> Result<Updated, InboxError> {
        let unseen = InboxFilter { seen: Some(false), ..InboxFilter::default() };
        self.change_states(caller, (StateAction::Seen, Selection::Filter(unseen)), origin).await
    }

    /// Wakes `user`'s notifications among `ids` whose snooze is due: each becomes unread and
    /// unseen, and they are pushed in one `notifications_unsnoozed` frame. Two nodes waking the same ones wake
    /// them once (the second finds them awake under the inbox lock). Returns how many woke.
    pub async fn wake(&self, user: UserId, ids: Vec<NotificationId>) -> Result<usize, InboxError> {
        let done: StateChange =
            self.db.change_states(user, (StateAction::Wake, Selection::Ids(ids)), now(), true).await?;
        let Some(position) = done.change.position else { return Ok(0) };
        self.before_publish().await;
        let (unread_count, unseen_count) = (done.change.unread_count, done.change.unseen_count);
        let frame = ServerFrame::NotificationsUnsnoozed {
            notifications: Notifications(&done.rows),
            unread_count,
            unseen_count,
        };
        self.broker.publish(vec![Event::new(user, position, None, &frame)]);
        Ok(done.rows.len())
    }
}
