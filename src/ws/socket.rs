//! `Socket`: the state of one open socket or SSE stream (its user, stream delivery, signals from
//! the hub) and its writes to its `Outlet`, each bounded by the heartbeat timeout. The session
//! task (`session`) owns it; `replay` and `frames` add what they do with it. Reading the socket
//! is `session`'s alone.

use super::closing::ClientClosed;
use super::context::WsContext;
use super::delivery::{Delivery, Due};
use super::outlet::{self, EventId, Outlet};
use super::protocol;
use crate::domain::{Principal, StreamPos};
use crate::error::ApiError;
use crate::event::{ServerFrame, SessionId};
use crate::hub::SessionSignals;
use actix_ws::{CloseCode, CloseReason};
use bytestring::ByteString;
use futures_util::future::Either;
use futures_util::FutureExt;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a close frame may wait for a slow client.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// The close reason of a client too slow to take what is sent (1013).
pub(super) const TOO_SLOW: &str = "too slow to read: reconnect with since";

/// The close reason of a socket flooding past its limits (1008).
pub(super) const FLOODING: &str = "rate limit exceeded";
/// The close code and reason of an administrator's "disconnect all" (the admin console).
pub(super) const DISCONNECTED_BY_ADMIN: u16 = 4003;
pub(super) const DISCONNECTED: &str = "disconnected by an administrator";

/// Why the session ends: `None` when the client went away, else the close frame to send.
pub(super) type Stop = Option<CloseReason>;

/// A bounded write's end: written, the client gone (`None`), or not taken in time (1013).
fn outcome(written: Result<bool, tokio::time::error::Elapsed>) -> Result<(), Stop> {
    match written {
        Ok(true) => Ok(()),
        Ok(false) => Err(None),
        Err(_timeout) => Err(close(CloseCode::Again, TOO_SLOW)),
    }
}

pub(super) fn close(code: CloseCode, description: &str) -> Stop {
    Some(CloseReason { code, description: Some(description.to_owned()) })
}

pub(super) struct Socket {
    pub(super) ctx: Arc<WsContext>,
    pub(super) id: SessionId,
    pub(super) principal: Principal,
    outlet: Outlet,
    pub(super) signals: Arc<SessionSignals>,
    /// Stream positions, held events and repair deadlines (set from the database at connect).
    pub(super) delivery: Delivery,
    pub(super) last_heard: Instant,
    /// Set when the client starts the close handshake (`super::closing`).
    pub(super) client_closed: ClientClosed,
}

impl Socket {
    pub(super) fn new(
        ctx: Arc<WsContext>,
        id: SessionId,
        principal: Principal,
        outlet: Outlet,
        signals: Arc<SessionSignals>,
        client_closed: ClientClosed,
    ) -> Socket {
        Socket {
            ctx,
            id,
            principal,
            outlet,
            signals,
            delivery: Delivery::new(id, StreamPos::ZERO, 0),
            last_heard: Instant::now(),
            client_closed,
        }
    }

    /// Whether the hub found the outbox full: the client is too slow (1013).
    pub(super) fn overflowed(&self) -> bool {
        self.signals.overflowed.load(Ordering::Acquire)
    }

    /// Writes one text frame. Gives up with 1013 if the hub reports the outbox overflowed, or
    /// when the client has not taken the frame within the heartbeat timeout.
    pub(super) async fn send(&mut self, text: ByteString) -> Result<(), Stop> {
        if self.overflowed() {
            return Err(close(CloseCode::Again, TOO_SLOW));
        }
        let signals = self.signals.clone();
        let overflow = signals.overflow.notified();
        let write = match &mut self.outlet {
            Outlet::WebSocket(writer) => Either::Left(writer.text(text).map(|w| w.is_ok())),
            Outlet::EventStream(body) => {
                let id = EventId { position: self.delivery.position(), last_id: self.delivery.last_sent_id() };
                Either::Right(body.send(outlet::sse_event(&text, id)).map(|w| w.is_ok()))
            }
        };
        tokio::select! {
            written = tokio::time::timeout(self.ctx.settings.ping_timeout, write) => outcome(written),
            _ = overflow => Err(close(CloseCode::Again, TOO_SLOW)),
        }
    }

    /// Writes a reply: `frame` with the request's `request_id`.
    pub(super) async fn reply(&mut self, frame: &ServerFrame<'_>, request_id: &Option<Value>) -> Result<(), Stop> {
        self.send(frame.to_reply(request_id)).await
    }

    /// Writes an error frame; the socket stays open.
    pub(super) async fn send_error(&mut self, err: &ApiError, request_id: &Option<Value>) -> Result<(), Stop> {
        self.send(protocol::error_frame(err, request_id)).await
    }

    /// Writes a ping (`None`; an SSE comment) or the pong answering a client's ping, bounded like
    /// `send`.
    pub(super) async fn write_control(&mut self, pong: Option<&[u8]>) -> Result<(), Stop> {
        let bound = self.ctx.settings.ping_timeout;
        let written = match (&mut self.outlet, pong) {
            (Outlet::WebSocket(writer), Some(payload)) => {
                tokio::time::timeout(bound, writer.pong(payload)).await.map(|w| w.is_ok())
            }
            (Outlet::WebSocket(writer), None) => tokio::time::timeout(bound, writer.ping(b"")).await.map(|w| w.is_ok()),
            (Outlet::EventStream(body), _) => {
                let heartbeat = bytes::Bytes::from_static(outlet::SSE_HEARTBEAT);
                tokio::time::timeout(bound, body.send(heartbeat)).await.map(|w| w.is_ok())
            }
        };
        outcome(written)
    }

    /// Writes every event whose turn has come, in stream order.
    pub(super) async fn write_due(&mut self) -> Result<(), Stop> {
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

    /// Sends the close frame (on SSE the `close` event, then the end of the response), waiting
    /// at most `CLOSE_WAIT` for the client.
    pub(super) async fn close(self, reason: CloseReason) {
        match self.outlet {
            Outlet::WebSocket(writer) => {
                let _ = tokio::time::timeout(CLOSE_WAIT, writer.close(Some(reason))).await;
            }
            Outlet::EventStream(body) => {
                let _ = tokio::time::timeout(CLOSE_WAIT, body.send(outlet::sse_close(&reason))).await;
            }
        }
    }
}
