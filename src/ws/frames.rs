//! Client frames → inbox calls: each parsed `ClientFrame` takes its cost from the user's budget
//! (shared with REST and the user's other sockets, `crate::limits::budget`), then becomes one
//! use-case call and its reply (echoing the `request_id`), or an error frame; the socket stays
//! open either way. A refused frame counts towards the socket's flood close (1008). A frame
//! refused by the per-socket rate limit is answered without being read.

use super::protocol::{self, ClientFrame, Request};
use super::socket::{close, Socket, Stop, FLOODING};
use crate::domain::{Change, CreateOutcome, Idempotent, StoredReply};
use crate::error::ApiError;
use crate::event::{with_request_id, Notifications, ServerFrame};
use crate::inbox::{InboxError, Keyed, SEND_NOTIFICATION};
use crate::limits::budget::Action;
use crate::limits::local::{FrameLimiter, FrameVerdict};
use actix_ws::{AggregatedMessage, CloseCode};
use serde_json::Value;

/// The `request_id` of a frame refused by the rate limit is read only from frames this small:
/// a refused frame costs no JSON parse of up to 64 KiB.
const REFUSED_FRAME_ID_BYTES: usize = 512;

/// Outcome of a frame that did not go as asked.
enum Handled {
    /// Tell the client with an error frame; the socket stays open.
    Failed(ApiError),
    /// The socket must close.
    Stop(Stop),
}

impl From<ApiError> for Handled {
    fn from(err: ApiError) -> Self {
        Handled::Failed(err)
    }
}

impl From<InboxError> for Handled {
    fn from(err: InboxError) -> Self {
        Handled::Failed(err.into())
    }
}

impl Socket {
    /// Answers a frame refused by the rate limit without reading it: a `rate_limited` error for
    /// text and binary frames (with the `request_id` of a small text frame), nothing for
    /// control frames.
    pub(super) async fn refuse(&mut self, message: &AggregatedMessage) -> Result<(), Stop> {
        let request_id = match message {
            AggregatedMessage::Text(text) if text.len() <= REFUSED_FRAME_ID_BYTES => protocol::request_id_of(text),
            AggregatedMessage::Text(_) | AggregatedMessage::Binary(_) => None,
            _ => return Ok(()),
        };
        self.send_error(&ApiError::RateLimited { retry_after_secs: 1 }, &request_id).await
    }

    /// Parses a text frame, takes its cost from the user's budget and does what it asks. A
    /// refusal (`rate_limited` with `retry_after`) counts in `limiter`'s flood window.
    pub(super) async fn handle_text(&mut self, text: &str, limiter: &mut FrameLimiter) -> Result<(), Stop> {
        let Request { request_id, frame } = match protocol::parse(text, self.ctx.inbox.types()) {
            Ok(request) => request,
            Err(bad) => return self.send_error(&bad.error, &bad.request_id).await,
        };
        if let Err(refused) = self.draw_budget(&frame).await {
            if limiter.refused_elsewhere() == FrameVerdict::Flood {
                return Err(close(CloseCode::Policy, FLOODING));
            }
            return self.send_error(&refused, &request_id).await;
        }
        match self.handle_frame(frame, &request_id).await {
            Ok(()) => Ok(()),
            Err(Handled::Stop(stop)) => Err(stop),
            Err(Handled::Failed(err)) => self.send_error(&err, &request_id).await,
        }
    }

    async fn handle_frame(&mut self, frame: ClientFrame, request_id: &Option<Value>) -> Result<(), Handled> {
        let inbox = self.ctx.inbox.clone();
        let me = self.principal;
        let origin = Some(self.id);
        let reply = match frame {
            ClientFrame::GetNotifications { query } => {
                let page = inbox.list(me, query).await?;
                let frame = ServerFrame::Notifications {
                    notifications: Notifications(&page.rows),
                    total: page.total,
                    unread_count: page.unread_count,
                    next_before: page.next_before,
                    unseen_count: page.unseen_count,
                };
                return self.reply(&frame, request_id).await.map_err(Handled::Stop);
            }
            ClientFrame::MarkRead { id } => {
                let (_, Change { unread_count, unseen_count, .. }) = inbox.mark_read(me, id, origin).await?;
                ServerFrame::NotificationRead { notification_id: id.get(), unread_count, unseen_count }
            }
            ClientFrame::MarkUnread { id } => {
                let (_, Change { unread_count, unseen_count, .. }) = inbox.mark_unread(me, id, origin).await?;
                ServerFrame::NotificationUnread { notification_id: id.get(), unread_count, unseen_count }
            }
            ClientFrame::MarkAllRead => {
                let (marked, Change { unread_count, unseen_count, .. }) = inbox.mark_all_read(me, origin).await?;
                ServerFrame::AllRead { marked, unread_count, unseen_count }
            }
            ClientFrame::DeleteNotification { id } => {
                let Change { unread_count, unseen_count, .. } = inbox.delete(me, id, origin).await?;
                ServerFrame::NotificationDeleted { notification_id: id.get(), unread_count, unseen_count }
            }
            ClientFrame::ChangeOne { action, id } => {
                let updated = inbox.change_one(me, (action, id), origin).await?;
                return self.reply(&updated.frame(), request_id).await.map_err(Handled::Stop);
            }
            ClientFrame::MarkAllSeen => {
                let updated = inbox.mark_all_seen(me, origin).await?;
                return self.reply(&updated.frame(), request_id).await.map_err(Handled::Stop);
            }
            ClientFrame::Bulk { action, selection } => {
                let updated = inbox.change_states(me, (action, selection), origin).await?;
                return self.reply(&updated.frame(), request_id).await.map_err(Handled::Stop);
            }
            ClientFrame::GetPreferences => {
                let preferences = inbox.preferences(me).await?;
                let categories = preferences.by_category(inbox.types());
                let frame = ServerFrame::Preferences { preferences: &preferences, categories };
                return self.reply(&frame, request_id).await.map_err(Handled::Stop);
            }
            ClientFrame::UpdatePreferences { body } => {
                let preferences = inbox.update_preferences(me, &body).await?;
                let categories = preferences.by_category(inbox.types());
                let frame = ServerFrame::Preferences { preferences: &preferences, categories };
                return self.reply(&frame, request_id).await.map_err(Handled::Stop);
            }
            ClientFrame::SendNotification { body, idempotency_key } => {
                let keyed = idempotency_key.as_deref().map(|key| Keyed {
                    key,
                    operation: SEND_NOTIFICATION,
                    render: sent_reply as _,
                });
                let text = match inbox.create(me, &body, keyed, origin).await? {
                    Idempotent::Fresh(outcome) => sent_reply(&outcome).body,
                    Idempotent::Replay(first) => first.body,
                };
                return self.send(with_request_id(text, request_id)).await.map_err(Handled::Stop);
            }
            ClientFrame::GetUnreadCount => {
                let (unread_count, unseen_count) = inbox.unread_count(me).await?;
                ServerFrame::UnreadCount { unread_count, unseen_count }
            }
            ClientFrame::Sync { since } => return self.replay(since, request_id).await.map_err(Handled::Stop),
            ClientFrame::Ping => ServerFrame::Pong,
            ClientFrame::RefreshToken { token } => self.refresh_token(&token).await?,
        };
        self.reply(&reply, request_id).await.map_err(Handled::Stop)
    }

    /// Takes the frame's cost from the budget: an end user's by `action_of`, a service's by the
    /// notification it would write.
    async fn draw_budget(&self, frame: &ClientFrame) -> Result<(), ApiError> {
        let budgets = &self.ctx.budgets;
        if let ClientFrame::SendNotification { body, .. } = frame {
            budgets.notifications(&self.principal, 1, body).await?;
        }
        match action_of(frame) {
            Some(action) => budgets.admit(&self.principal, action).await,
            None => Ok(()),
        }
    }

    /// Takes a fresh token for the same user; the socket keeps the later expiry.
    async fn refresh_token(&mut self, token: &str) -> Result<ServerFrame<'static>, ApiError> {
        let fresh = self.ctx.verifier.verify(token).await?;
        if fresh.user_id != self.principal.user_id {
            return Err(ApiError::Forbidden("the new token is for another user"));
        }
        if fresh.expires_at > self.principal.expires_at {
            self.principal = fresh;
        }
        let expires_at = chrono::DateTime::from_timestamp(self.principal.expires_at, 0)
            .map(|t| crate::event::format_timestamp(&t.naive_utc()).to_string())
            .unwrap_or_default();
        Ok(ServerFrame::TokenRefreshed { expires_at })
    }
}

/// The reply to `send_notification` without its `request_id`: recorded under the frame's
/// `idempotency_key`, so a repeat (on this socket or a later one) gets the first reply again.
fn sent_reply(outcome: &CreateOutcome) -> StoredReply {
    let frame = match outcome {
        CreateOutcome::Created { row, .. } => ServerFrame::NotificationSent { notification: row.into() },
        CreateOutcome::Suppressed => ServerFrame::NotificationSuppressed { suppressed: true, reason: "preference" },
        // Never recorded (a full inbox rolls the key back) nor sent from here (`Inbox::create`
        // answers it as its error `inbox_full`).
        CreateOutcome::InboxFull => ServerFrame::Error {
            code: "inbox_full",
            message: "the recipient's inbox is full".to_owned(),
            field: None,
            retry_after: None,
        },
    };
    StoredReply { status: 200, body: frame.to_text().to_string() }
}

/// What a frame costs an end user; `None` for frames without database work (`ping`,
/// `refresh_token`: the per-socket frame limit bounds them).
fn action_of(frame: &ClientFrame) -> Option<Action> {
    match frame {
        ClientFrame::GetNotifications { .. } | ClientFrame::GetUnreadCount | ClientFrame::GetPreferences => {
            Some(Action::Read)
        }
        ClientFrame::Sync { .. } => Some(Action::Replay),
        ClientFrame::MarkRead { .. }
        | ClientFrame::MarkUnread { .. }
        | ClientFrame::ChangeOne { .. }
        | ClientFrame::MarkAllSeen
        | ClientFrame::Bulk { .. }
        | ClientFrame::UpdatePreferences { .. }
        | ClientFrame::MarkAllRead
        | ClientFrame::DeleteNotification { .. }
        | ClientFrame::SendNotification { .. } => Some(Action::Write),
        ClientFrame::Ping | ClientFrame::RefreshToken { .. } => None,
    }
}
