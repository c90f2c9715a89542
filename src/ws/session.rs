//! One task per socket: it alone awaits the socket. It `select!`s over client frames, its
//! bounded outbox (events from the hub), the heartbeat, the token-expiry timer, hub signals
//! (overflow → 1013, resync → repair) and node shutdown (→ 1001).
//!
//! What to write and when to repair is decided by `delivery` (a pure state machine); this task
//! does the IO: it hands each event to it, writes what is due, and runs the repairs it asks for
//! against the database — so broker reordering or loss never reaches the client as a missing
//! or doubled notification.

use super::delivery::{Delivery, Due, Received};
use super::protocol::{self, ClientFrame, Request};
use super::WsContext;
use crate::domain::{CreateOutcome, Idempotent, ListQuery, Principal};
use crate::error::{with_causes, ApiError};
use crate::event::{Event, Notifications, ServerFrame, SessionId};
use crate::hub::{SessionSignals, NO_POSITION};
use crate::inbox::InboxError;
use crate::limits::local::{FrameLimiter, FrameVerdict};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason};
use bytestring::ByteString;
use futures_util::StreamExt;
use serde_json::Value;
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

/// Rows per replay page, at most...
const REPLAY_PAGE_ROWS: i64 = 500;
/// ...and bytes of stored content per page (past its first row): what a socket's replay or
/// repair holds in memory at once, whatever the size of the rows.
const REPLAY_PAGE_BYTES: i64 = 256 * 1024;
/// A replay or repair that the client has not taken within this long closes with 1013; the
/// client resumes with `since` from what it got.
const REPLAY_DEADLINE: Duration = Duration::from_secs(30);
/// The `request_id` of a frame refused by the rate limit is read only from frames this small:
/// a refused frame costs no JSON parse of up to 64 KiB.
const REFUSED_FRAME_ID_BYTES: usize = 512;
/// How long a close frame may wait for a slow client.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Why the session ends: `None` when the client went away, else the close frame to send.
type Stop = Option<CloseReason>;

fn close(code: CloseCode, description: &str) -> Stop {
    Some(CloseReason { code, description: Some(description.to_owned()) })
}

struct Session {
    ctx: Arc<WsContext>,
    id: SessionId,
    principal: Principal,
    socket: actix_ws::Session,
    signals: Arc<SessionSignals>,
    /// Stream positions, held events and repair deadlines (set from the database at connect).
    delivery: Delivery,
    last_heard: Instant,
}

/// Runs a socket until it closes. `since`: replay what the client missed first.
///
/// A plain `fn` returning an `async move` block: the block holds the session once, for the
/// socket's life. (An `async fn` keeps its arguments and the locals moved out of them side by
/// side in its state, ~1 KiB more per idle socket.)
pub fn run(
    ctx: Arc<WsContext>,
    principal: Principal,
    id: SessionId,
    since: Option<i64>,
    socket: actix_ws::Session,
    mut stream: AggregatedMessageStream,
) -> impl std::future::Future<Output = ()> {
    let (outbox_tx, mut outbox) = mpsc::channel(ctx.settings.outbox_size);
    let signals = Arc::new(SessionSignals::default());
    let user = principal.user_id;
    let first_on_node = ctx.hub.register(user, id, outbox_tx, signals.clone());
    let mut session =
        Session { ctx, id, principal, socket, signals, delivery: Delivery::new(id, 0, 0), last_heard: Instant::now() };
    async move {
        if first_on_node {
            session.ctx.subscriptions.watch(user);
        }
        let stop = session.serve(since, &mut stream, &mut outbox).await;
        if session.ctx.hub.unregister(user, id) {
            session.ctx.subscriptions.unwatch(user);
        }
        if let Some(limits) = &session.ctx.cluster_limits {
            limits.release_socket(user, id);
        }
        drop(outbox);
        if let Some(reason) = stop {
            log::debug!("closing socket of user {user}: {reason:?}");
            session.ctx.metrics.sockets_closed.with_label_values(&[&u16::from(reason.code).to_string()]).inc();
            let _ = tokio::time::timeout(CLOSE_WAIT, session.socket.close(Some(reason))).await;
        }
    }
}

impl Session {
    async fn serve(
        &mut self,
        since: Option<i64>,
        stream: &mut AggregatedMessageStream,
        outbox: &mut mpsc::Receiver<Arc<Event>>,
    ) -> Stop {
        // Registered in the hub first, then read the database: nothing committed in between
        // can be missed (its event is already queued in the outbox).
        let position = match self.ctx.inbox.position(self.principal).await {
            Ok(position) => position,
            Err(err) => return close(CloseCode::Error, &format!("{}: retry", ApiError::from(err).code())),
        };
        self.delivery = Delivery::new(self.id, position.last_seq, position.newest_id);
        self.ctx.hub.note_position(self.principal.user_id, position.last_seq);
        // Not bound to a name: a local here would live (on the heap, in this task) as long as
        // the socket.
        // Serialized in its own statement: a named frame here would stay in this task's state
        // (every idle socket's memory) for the socket's life.
        let greeting = ServerFrame::ConnectionEstablished {
            user_id: self.principal.user_id,
            unread_count: position.unread_count,
            last_id: position.newest_id,
        }
        .to_text();
        if let Err(stop) = self.send(greeting).await {
            return stop;
        }
        if let Some(since) = since {
            if let Err(stop) = Box::pin(self.replay(since, &None)).await {
                return stop;
            }
        }

        let settings = self.ctx.settings;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + settings.ping_interval, settings.ping_interval);
        let expiry = sleep_until(self.expiry_deadline());
        tokio::pin!(expiry);
        let mut limiter = FrameLimiter::new(settings.frames_per_second);
        let mut shutdown = self.ctx.shutdown.clone();
        if *shutdown.borrow() {
            return close(CloseCode::Away, "server shutting down");
        }

        loop {
            if self.signals.overflowed.load(Ordering::Acquire) {
                return close(CloseCode::Again, "too slow to read: reconnect with since");
            }
            if self.signals.resync.swap(false, Ordering::AcqRel) {
                let hint = self.signals.position_hint.swap(NO_POSITION, Ordering::AcqRel);
                if let Err(stop) = Box::pin(self.repair_now(Some(hint).filter(|p| *p != NO_POSITION))).await {
                    return stop;
                }
            }
            let repair_at = self.delivery.repair_at();
            let step = tokio::select! {
                biased;
                _ = shutdown.changed() => return close(CloseCode::Away, "server shutting down"),
                _ = self.signals.wake.notified() => Ok(()),
                _ = &mut expiry => return close(CloseCode::Other(4001), "token expired"),
                message = stream.next() => {
                    self.last_heard = Instant::now();
                    let message = match message {
                        None => return None,
                        Some(Err(err)) => return protocol_error(err),
                        Some(Ok(AggregatedMessage::Close(_))) => return close(CloseCode::Normal, "bye"),
                        Some(Ok(message)) => message,
                    };
                    match limiter.check() {
                        FrameVerdict::Flood => return close(CloseCode::Policy, "rate limit exceeded"),
                        // Boxed, like every rare path: inline, its state would size every socket's task.
                        FrameVerdict::Reject => Box::pin(self.refuse(&message)).await,
                        FrameVerdict::Admit => match message {
                            AggregatedMessage::Text(text) => {
                                let expires_at = self.principal.expires_at;
                                let step = Box::pin(self.handle_text(&text)).await;
                                if self.principal.expires_at != expires_at {
                                    expiry.as_mut().reset(self.expiry_deadline());
                                }
                                step
                            }
                            AggregatedMessage::Binary(_) => {
                                let err = ApiError::BadRequest("binary frames are not supported: send JSON text frames");
                                Box::pin(self.send(protocol::error_frame(&err, &None))).await
                            }
                            AggregatedMessage::Ping(payload) => self.write_control(Some(&payload)).await,
                            AggregatedMessage::Pong(_) | AggregatedMessage::Close(_) => Ok(()),
                        },
                    }
                }
                Some(event) = outbox.recv() => self.on_event(event).await,
                _ = heartbeat.tick() => {
                    if self.last_heard.elapsed() > settings.ping_timeout {
                        return close(CloseCode::Away, "heartbeat timeout");
                    }
                    self.write_control(None).await
                }
                _ = async { sleep_until(repair_at.unwrap_or_else(Instant::now)).await }, if repair_at.is_some() => {
                    self.repair().await
                }
            };
            if let Err(stop) = step {
                return stop;
            }
        }
    }

    /// When the token expires, with the same leeway the handshake allowed: a token accepted
    /// within the leeway is not closed with 4001 right after the greeting.
    fn expiry_deadline(&self) -> Instant {
        let now_secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let left = (self.principal.expires_at - now_secs).max(0) as u64;
        Instant::now() + Duration::from_secs(left) + self.ctx.settings.token_leeway
    }

    /// Answers a frame refused by the rate limit without reading it: a `rate_limited` error for
    /// text and binary frames (with the `request_id` of a small text frame), nothing for
    /// control frames.
    async fn refuse(&mut self, message: &AggregatedMessage) -> Result<(), Stop> {
        let request_id = match message {
            AggregatedMessage::Text(text) if text.len() <= REFUSED_FRAME_ID_BYTES => protocol::request_id_of(text),
            AggregatedMessage::Text(_) | AggregatedMessage::Binary(_) => None,
            _ => return Ok(()),
        };
        let err = ApiError::RateLimited { retry_after_secs: 1 };
        self.send(protocol::error_frame(&err, &request_id)).await
    }

    /// Writes one text frame. Gives up with 1013 if the hub reports the outbox overflowed, or
    /// when the client has not taken the frame within the heartbeat timeout.
    async fn send(&mut self, text: ByteString) -> Result<(), Stop> {
        if self.signals.overflowed.load(Ordering::Acquire) {
            return Err(close(CloseCode::Again, "too slow to read: reconnect with since"));
        }
        let signals = self.signals.clone();
        let overflow = signals.overflow.notified();
        tokio::select! {
            written = tokio::time::timeout(self.ctx.settings.ping_timeout, self.socket.text(text)) => match written {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_closed)) => Err(None),
                Err(_timeout) => Err(close(CloseCode::Again, "too slow to read: reconnect with since")),
            },
            _ = overflow => Err(close(CloseCode::Again, "too slow to read: reconnect with since")),
        }
    }

    /// Writes a ping (`None`) or the pong answering a client's ping, bounded like `send`.
    async fn write_control(&mut self, pong: Option<&[u8]>) -> Result<(), Stop> {
        let bound = self.ctx.settings.ping_timeout;
        let socket = &mut self.socket;
        let written = match pong {
            Some(payload) => tokio::time::timeout(bound, socket.pong(payload)).await,
            None => tokio::time::timeout(bound, socket.ping(b"")).await,
        };
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_closed)) => Err(None),
            Err(_timeout) => Err(close(CloseCode::Again, "too slow to read: reconnect with since")),
        }
    }

    async fn reply(&mut self, frame: &ServerFrame<'_>, request_id: &Option<Value>) -> Result<(), Stop> {
        self.send(frame.to_reply(request_id)).await
    }

    async fn handle_text(&mut self, text: &str) -> Result<(), Stop> {
        let Request { request_id, frame } = match protocol::parse(text) {
            Ok(request) => request,
            Err(bad) => return self.send(protocol::error_frame(&bad.error, &bad.request_id)).await,
        };
        match self.handle_frame(frame, &request_id).await {
            Ok(()) => Ok(()),
            Err(Handled::Stop(stop)) => Err(stop),
            Err(Handled::Failed(err)) => self.send(protocol::error_frame(&err, &request_id)).await,
        }
    }

    async fn handle_frame(&mut self, frame: ClientFrame, request_id: &Option<Value>) -> Result<(), Handled> {
        let inbox = self.ctx.inbox.clone();
        let me = self.principal;
        let origin = Some(self.id);
        let reply = match frame {
            ClientFrame::GetNotifications { limit, before, unread } => {
                let page = inbox.list(me, ListQuery { unread_only: unread, kind: None, before, limit }).await?;
                let frame = ServerFrame::Notifications {
                    notifications: Notifications(&page.rows),
                    total: page.total,
                    unread_count: page.unread_count,
                    next_before: page.next_before,
                };
                return self.reply(&frame, request_id).await.map_err(Handled::Stop);
            }
            ClientFrame::MarkRead { id } => {
                let (_, unread_count) = inbox.mark_read(me, id, origin).await?;
                ServerFrame::NotificationRead { notification_id: id.get(), unread_count }
            }
            ClientFrame::MarkAllRead => {
                let (marked, unread_count) = inbox.mark_all_read(me, origin).await?;
                ServerFrame::AllRead { marked, unread_count }
            }
            ClientFrame::DeleteNotification { id } => {
                let unread_count = inbox.delete(me, id, origin).await?;
                ServerFrame::NotificationDeleted { notification_id: id.get(), unread_count }
            }
            ClientFrame::SendNotification { body } => match inbox.create(me, &body, None, origin).await? {
                Idempotent::Fresh(CreateOutcome::Created { row, .. }) => {
                    let frame = ServerFrame::NotificationSent { notification: (&row).into() };
                    return self.reply(&frame, request_id).await.map_err(Handled::Stop);
                }
                Idempotent::Fresh(CreateOutcome::Suppressed) => {
                    ServerFrame::NotificationSuppressed { suppressed: true, reason: "preference" }
                }
                Idempotent::Replay(_) => {
                    return Err(Handled::Failed(ApiError::Internal("replay without a key".into())))
                }
            },
            ClientFrame::GetUnreadCount => ServerFrame::UnreadCount { unread_count: inbox.unread_count(me).await? },
            ClientFrame::Sync { since } => return self.replay(since, request_id).await.map_err(Handled::Stop),
            ClientFrame::Ping => ServerFrame::Pong,
            ClientFrame::RefreshToken { token } => {
                let fresh = self.ctx.verifier.verify(&token)?;
                if fresh.user_id != self.principal.user_id {
                    return Err(Handled::Failed(ApiError::Forbidden("the new token is for another user")));
                }
                if fresh.expires_at > self.principal.expires_at {
                    self.principal = fresh;
                }
                let expires_at = chrono::DateTime::from_timestamp(self.principal.expires_at, 0)
                    .map(|t| crate::event::format_timestamp(&t.naive_utc()).to_string())
                    .unwrap_or_default();
                ServerFrame::TokenRefreshed { expires_at }
            }
        };
        self.reply(&reply, request_id).await.map_err(Handled::Stop)
    }

    /// Sends every notification with id above `since`, oldest first, then `sync_complete`.
    async fn replay(&mut self, since: i64, request_id: &Option<Value>) -> Result<(), Stop> {
        match self.send_after(since, false, i64::MAX).await? {
            Ok(Replayed { last_id, .. }) => self.reply(&ServerFrame::SyncComplete { last_id }, request_id).await,
            Err(err) => self.send(protocol::error_frame(&err.into(), request_id)).await,
        }
    }

    /// Sends every notification with id above `after` and at most `until` (only live ones when
    /// `live_only`), oldest first, in pages bounded by bytes, within `REPLAY_DEADLINE`. Returns
    /// the last id sent (`after` when none) and how many were sent, or the database error that
    /// stopped it. A repair stops at the newest id of the position it read: a notification
    /// committed later is not sent ahead of its stream position, else the next repair would count
    /// it as missing and send a needless `resync`.
    async fn send_after(
        &mut self,
        after: i64,
        live_only: bool,
        until: i64,
    ) -> Result<Result<Replayed, InboxError>, Stop> {
        let deadline = Instant::now() + REPLAY_DEADLINE;
        let mut last_id = after;
        let mut counted = 0;
        loop {
            let page = (REPLAY_PAGE_ROWS, REPLAY_PAGE_BYTES);
            let (rows, more) = match self.ctx.inbox.since(self.principal, last_id, page, live_only).await {
                Ok(page) => page,
                Err(err) => return Ok(Err(err)),
            };
            for row in &rows {
                if row.id > until {
                    return Ok(Ok(Replayed { last_id, counted }));
                }
                let frame = ServerFrame::Notification { notification: row.into() }.to_text();
                match tokio::time::timeout_at(deadline, self.send(frame)).await {
                    Ok(sent) => sent?,
                    Err(_late) => return Err(close(CloseCode::Again, "replay too slow: reconnect with since")),
                }
                self.ctx.metrics.notifications_delivered.inc();
                last_id = row.id;
                counted += 1;
                self.delivery.sent_notification(row.id);
            }
            if !more {
                return Ok(Ok(Replayed { last_id, counted }));
            }
        }
    }

    /// Takes an event from the outbox and writes what is due.
    async fn on_event(&mut self, event: Arc<Event>) -> Result<(), Stop> {
        match self.delivery.receive(event, Instant::now()) {
            Received::Repeat | Received::Held => Ok(()),
            Received::RepairNow => self.repair().await,
            Received::InOrder => self.write_due().await,
        }
    }

    /// Writes every event whose turn has come, in stream order.
    async fn write_due(&mut self) -> Result<(), Stop> {
        let now = Instant::now();
        while let Some(Due { event, write }) = self.delivery.next_due(now) {
            if !write {
                continue;
            }
            self.send(event.frame.clone()).await?;
            if event.notification_id.is_some() {
                let metrics = &self.ctx.metrics;
                metrics.notifications_delivered.inc();
                let waited_us = crate::event::unix_micros().saturating_sub(event.published_at_us);
                metrics.publish_to_delivery.observe(waited_us as f64 / 1e6);
            }
        }
        Ok(())
    }

    /// Repairs the stream from the database: sends live notifications newer than the last one
    /// sent, then `resync` if the gap held other changes (reads, unreads, deletes, retention:
    /// the client fetches its list again), then the unread count, and moves to the database's
    /// stream position. Boxed: it runs rarely, and unboxed its state
    /// would size every idle socket's task.
    fn repair(&mut self) -> futures_util::future::LocalBoxFuture<'_, Result<(), Stop>> {
        Box::pin(self.repair_now(None))
    }

    /// `database_position`: the user's stream position read after the loss for every user at
    /// once (`Hub::resync_all_at`), which saves this session its own query when not behind it.
    async fn repair_now(&mut self, database_position: Option<i64>) -> Result<(), Stop> {
        self.delivery.repair_started();
        // The cheap check first: most repairs (after a subscription or a reconnect) find nothing.
        if !self.delivery.has_held() {
            let database_seq = match database_position {
                Some(position) => Ok(position),
                None => self.ctx.inbox.stream_position(self.principal).await,
            };
            match database_seq {
                Ok(database_seq) if !self.delivery.is_behind(database_seq) => {
                    self.ctx.hub.note_position(self.principal.user_id, database_seq);
                    return Ok(());
                }
                Ok(_) => {}
                Err(err) => return self.postpone_repair(&err),
            }
        }
        let position = match self.ctx.inbox.position(self.principal).await {
            Ok(position) => position,
            Err(err) => return self.postpone_repair(&err),
        };
        if self.delivery.is_behind(position.last_seq) {
            let sent = match self.send_after(self.delivery.last_sent_id(), true, position.newest_id).await? {
                Ok(Replayed { counted, .. }) => counted,
                Err(err) => return self.postpone_repair(&err),
            };
            let unread_count = position.unread_count;
            if self.delivery.repair_leaves_changes_untold(position.last_seq, sent) {
                self.send(ServerFrame::Resync { unread_count }.to_text()).await?;
            }
            self.send(ServerFrame::UnreadCount { unread_count }.to_text()).await?;
            self.delivery.repaired_to(position.last_seq);
        }
        self.ctx.hub.note_position(self.principal.user_id, position.last_seq);
        self.write_due().await
    }

    /// The database could not serve a repair: the socket stays open and tries again later.
    fn postpone_repair(&mut self, err: &InboxError) -> Result<(), Stop> {
        log::warn!("stream repair for user {} postponed: {}", self.principal.user_id, with_causes(err));
        self.delivery.repair_failed(Instant::now());
        Ok(())
    }
}

/// What `send_after` sent: the last id, and how many rows.
struct Replayed {
    last_id: i64,
    counted: i64,
}

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

fn protocol_error(err: actix_ws::ProtocolError) -> Stop {
    use actix_ws::ProtocolError;
    match err {
        ProtocolError::Overflow => close(CloseCode::Size, "frame larger than 64 KiB"),
        ProtocolError::Io(ref e) if e.to_string().contains("continuation") => {
            close(CloseCode::Size, "message larger than 64 KiB")
        }
        // Both reach here as `InvalidData`; only the message tells them apart.
        ProtocolError::Io(ref e) if e.kind() == std::io::ErrorKind::InvalidData => {
            if e.to_string().contains("reserved bits") {
                close(CloseCode::Protocol, "reserved bits set")
            } else {
                close(CloseCode::Invalid, "text is not valid UTF-8")
            }
        }
        ProtocolError::Io(_) => None,
        other => close(CloseCode::Protocol, &other.to_string()),
    }
}

/// Frames per second must be at least one.
pub fn frames_per_second(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}
