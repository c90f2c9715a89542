//! Replay and repair from the database: `since` on connect and the `sync` frame send what the
//! client missed, in pages bounded by bytes, then `sync_complete`; a repair (a gap, a lost
//! publish, a broker reconnect) sends the live notifications the socket missed and `resync`
//! when other changes cannot be told one by one. The database is the history; the broker is a
//! hint.

use super::delivery::Delivery;
use super::outlet::EventId;
use super::socket::{close, Socket, Stop};
use crate::domain::StreamPos;
use crate::error::with_causes;
use crate::event::ServerFrame;
use crate::inbox::InboxError;
use actix_ws::CloseCode;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// Rows per replay page, at most...
const REPLAY_PAGE_ROWS: i64 = 500;
/// ...and bytes of stored content per page (past its first row): what a socket's replay or
/// repair holds in memory at once, whatever the size of the rows.
const REPLAY_PAGE_BYTES: i64 = 256 * 1024;
/// A replay or repair that the client has not taken within this long closes with 1013; the
/// client resumes with `since` from what it got.
const REPLAY_DEADLINE: Duration = Duration::from_secs(30);

/// How `send_after` ended.
enum Replayed {
    /// Everything asked for was sent: the last id (`after` when none) and how many rows.
    Sent { last_id: i64, counted: i64 },
    /// The database could not serve it; the socket stays open.
    Failed(InboxError),
    /// The socket must close (the client went away or did not keep up).
    Closed(Stop),
}

impl Socket {
    /// Sends every notification with id above `since`, oldest first, then `sync_complete`.
    pub(super) async fn replay(&mut self, since: i64, request_id: &Option<Value>) -> Result<(), Stop> {
        match self.send_after(since, false, i64::MAX).await {
            Replayed::Sent { last_id, .. } => self.reply(&ServerFrame::SyncComplete { last_id }, request_id).await,
            Replayed::Failed(err) => self.send_error(&err.into(), request_id).await,
            Replayed::Closed(stop) => Err(stop),
        }
    }

    /// Sends every notification with id above `after` and at most `until` (only live ones when
    /// `live_only`), oldest first, in pages bounded by bytes, within `REPLAY_DEADLINE`. A repair
    /// stops at the newest id of the snapshot it read: a notification committed later is not
    /// sent ahead of its stream position, else the next repair would count it as missing and
    /// send a needless `resync`.
    async fn send_after(&mut self, after: i64, live_only: bool, until: i64) -> Replayed {
        let deadline = Instant::now() + REPLAY_DEADLINE;
        let mut last_id = after;
        let mut counted = 0;
        loop {
            let page = (REPLAY_PAGE_ROWS, REPLAY_PAGE_BYTES);
            let (rows, more) = match self.ctx.inbox.since(self.principal, last_id, page, live_only).await {
                Ok(page) => page,
                Err(err) => return Replayed::Failed(err),
            };
            for row in &rows {
                if row.id > until {
                    return Replayed::Sent { last_id, counted };
                }
                let frame = ServerFrame::Notification { notification: row.into() }.to_text();
                // Counted as sent before the write: an SSE event's id then names it as handled.
                self.delivery.sent_notification(row.id);
                match tokio::time::timeout_at(deadline, self.send(frame)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(stop)) => return Replayed::Closed(stop),
                    Err(_late) => {
                        return Replayed::Closed(close(CloseCode::Again, "replay too slow: reconnect with since"))
                    }
                }
                self.ctx.metrics.notifications_delivered.inc();
                last_id = row.id;
                counted += 1;
            }
            if !more {
                return Replayed::Sent { last_id, counted };
            }
        }
    }

    /// Repairs the stream from the database: sends live notifications newer than the last one
    /// sent, then `resync` if the gap held other changes (reads, unreads, deletes, retention:
    /// the client fetches its list again), then the unread count, and moves to the database's
    /// stream position. Boxed: it runs rarely, and unboxed its state would size every idle
    /// socket's task.
    pub(super) fn repair(&mut self) -> futures_util::future::LocalBoxFuture<'_, Result<(), Stop>> {
        Box::pin(self.repair_now(None))
    }

    /// `database_position`: the user's stream position read after the loss for every user at
    /// once (`Hub::resync_all_at`), which saves this session its own query when not behind it.
    pub(super) async fn repair_now(&mut self, database_position: Option<StreamPos>) -> Result<(), Stop> {
        self.delivery.repair_started();
        // The cheap check first: most repairs (after a subscription or a reconnect) find nothing.
        if !self.delivery.has_held() {
            let database_position = match database_position {
                Some(position) => Ok(position),
                None => self.ctx.inbox.stream_position(self.principal).await,
            };
            match database_position {
                Ok(position) if !self.delivery.is_behind(position) => {
                    self.ctx.hub.note_position(self.principal.user_id, position);
                    return Ok(());
                }
                Ok(_) => {}
                Err(err) => return self.postpone_repair(&err),
            }
        }
        let snapshot = match self.ctx.inbox.snapshot(self.principal).await {
            Ok(snapshot) => snapshot,
            Err(err) => return self.postpone_repair(&err),
        };
        if self.delivery.is_behind(snapshot.position) {
            let sent = match self.send_after(self.delivery.last_sent_id(), true, snapshot.newest_id).await {
                Replayed::Sent { counted, .. } => counted,
                Replayed::Failed(err) => return self.postpone_repair(&err),
                Replayed::Closed(stop) => return Err(stop),
            };
            let (unread_count, unseen_count) = (snapshot.unread_count, snapshot.unseen_count);
            let untold = self.delivery.repair_leaves_changes_untold(snapshot.position, sent);
            // Moved first: what follows (an SSE event's id) stands at the repaired position.
            self.delivery.repaired_to(snapshot.position);
            if untold {
                self.send(ServerFrame::Resync { unread_count, unseen_count }.to_text()).await?;
            }
            self.send(ServerFrame::UnreadCount { unread_count, unseen_count }.to_text()).await?;
        }
        self.ctx.hub.note_position(self.principal.user_id, snapshot.position);
        self.write_due().await
    }

    /// Resumes an SSE stream after `from` (its client's `Last-Event-ID`): the stream restarts at
    /// that position and a repair sends what was missed since, as after a lost publish: the
    /// notifications newer than its id, then `resync` if other changes happened meanwhile. The
    /// greeting has just read the database; a cursor ahead of it (another database, a restore)
    /// is not trusted: the client is told to fetch its list again.
    pub(super) async fn resume(&mut self, from: EventId) -> Result<(), Stop> {
        let (position, newest_id) = (self.delivery.position(), self.delivery.last_sent_id());
        self.delivery = if from.position > position || from.last_id > newest_id {
            Delivery::new(self.id, StreamPos::ZERO, newest_id)
        } else {
            Delivery::new(self.id, from.position, from.last_id)
        };
        self.repair_now(Some(position)).await
    }

    /// The database could not serve a repair: the socket stays open and tries again later.
    fn postpone_repair(&mut self, err: &InboxError) -> Result<(), Stop> {
        log::warn!("stream repair for user {} postponed: {}", self.principal.user_id, with_causes(err));
        self.delivery.repair_failed(Instant::now());
        Ok(())
    }
}
