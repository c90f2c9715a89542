//! One task per socket or SSE stream: it alone reads the socket. It `select!`s over client
//! frames (an SSE client sends none: only its leaving is noticed), its
//! bounded outbox (events from the hub), the heartbeat, the token-expiry timer, hub signals
//! (overflow → 1013, resync → repair, an administrator's disconnect → 4003) and node shutdown
//! (→ 1001).
//!
//! What to write and when to repair is decided by `delivery` (a pure state machine); this task
//! hands it each event and writes what is due. Frames are handled in `frames`, replays and
//! repairs in `replay`, writes in `socket`.

use super::closing::{ClientClosed, PeerHangup};
use super::context::WsContext;
use super::delivery::{Delivery, Received};
use super::outlet::{EventId, Outlet};
use super::socket::{close, Socket, Stop, DISCONNECTED, DISCONNECTED_BY_ADMIN, FLOODING, TOO_SLOW};
use crate::domain::Principal;
use crate::error::ApiError;
use crate::event::{Event, ServerFrame, SessionId};
use crate::hub::{SessionInfo, SessionSignals};
use crate::limits::local::{FrameLimiter, FrameVerdict};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode};
use futures_util::StreamExt;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant, Sleep};

/// Where a session's stream starts.
#[derive(Debug, Clone, Copy)]
pub(super) enum Start {
    /// At the greeting: nothing is replayed.
    Now,
    /// A WebSocket's `since`: every notification newer than this id first, then `sync_complete`.
    Since(i64),
    /// An SSE stream's `Last-Event-ID`: what was missed after it, as a repair sends it.
    After(EventId),
}

/// What a session reads.
pub(super) enum Inbound {
    /// A WebSocket's frames.
    Frames(AggregatedMessageStream),
    /// Nothing: an SSE client only listens. A handle on its response's body, and a watch on
    /// its connection, tell when it left.
    Listener(mpsc::Sender<bytes::Bytes>, Option<PeerHangup>),
}

impl Inbound {
    /// The next client frame; `None` when the client went away.
    async fn next(&mut self) -> Option<Result<AggregatedMessage, actix_ws::ProtocolError>> {
        match self {
            Inbound::Frames(stream) => stream.next().await,
            Inbound::Listener(body, None) => {
                body.closed().await;
                None
            }
            Inbound::Listener(body, Some(connection)) => {
                tokio::select! {
                    _ = body.closed() => None,
                    _ = connection.hung_up() => None,
                }
            }
        }
    }
}

/// Runs a socket until it closes. `start`: replay what the client missed first; `info`: who is
/// behind it, kept in the hub.
///
/// A plain `fn` returning an `async move` block: the block holds the socket once, for its life.
/// (An `async fn` keeps its arguments and the locals moved out of them side by side in its
/// state, more memory per idle socket.)
pub(super) fn run(
    ctx: Arc<WsContext>,
    principal: Principal,
    (id, client_closed, info): (SessionId, ClientClosed, SessionInfo),
    start: Start,
    outlet: Outlet,
    mut inbound: Inbound,
) -> impl std::future::Future<Output = ()> {
    let (outbox_tx, mut outbox) = mpsc::channel(ctx.settings.outbox_size);
    let signals = Arc::new(SessionSignals::default());
    let user = principal.user_id;
    let first_on_node = ctx.hub.register(user, id, (outbox_tx, signals.clone()), info);
    let mut socket = Socket::new(ctx, id, principal, outlet, signals, client_closed);
    async move {
        if first_on_node {
            socket.ctx.subscriptions.watch(user);
        }
        let stop = serve(&mut socket, start, &mut inbound, &mut outbox).await;
        if socket.ctx.hub.unregister(user, id) {
            socket.ctx.subscriptions.unwatch(user);
        }
        if let Some(limits) = &socket.ctx.cluster_limits {
            limits.release_socket(user, id);
        }
        drop(outbox);
        if let Some(reason) = stop {
            log::debug!("closing socket of user {user}: {reason:?}");
            socket.ctx.metrics.sockets_closed.with_label_values(&[&u16::from(reason.code).to_string()]).inc();
            socket.close(reason).await;
        }
    }
}

/// Greets the client (and replays from `since`), then serves the socket until it must close.
async fn serve(
    socket: &mut Socket,
    start: Start,
    inbound: &mut Inbound,
    outbox: &mut mpsc::Receiver<Arc<Event>>,
) -> Stop {
    if let Err(stop) = greet(socket).await {
        return stop;
    }
    if let Err(stop) = begin(socket, start).await {
        return stop;
    }
    let hears_client = matches!(inbound, Inbound::Frames(_));
    let settings = socket.ctx.settings;
    let mut heartbeat = tokio::time::interval_at(Instant::now() + settings.ping_interval, settings.ping_interval);
    let expiry = sleep_until(expiry_deadline(socket));
    tokio::pin!(expiry);
    let mut limiter = FrameLimiter::new(settings.frames_per_second);
    let mut shutdown = socket.ctx.shutdown.clone();
    if *shutdown.borrow() {
        return close(CloseCode::Away, "server shutting down");
    }
    loop {
        if socket.overflowed() {
            return close(CloseCode::Again, TOO_SLOW);
        }
        if socket.signals.disconnect.load(Ordering::Acquire) {
            return close(CloseCode::Other(DISCONNECTED_BY_ADMIN), DISCONNECTED);
        }
        if socket.signals.resync.swap(false, Ordering::AcqRel) {
            let database_position = socket.signals.take_database_position();
            if let Err(stop) = Box::pin(socket.repair_now(database_position)).await {
                return stop;
            }
        }
        let repair_at = socket.delivery.repair_at();
        let step = tokio::select! {
            biased;
            _ = shutdown.changed() => return close(CloseCode::Away, "server shutting down"),
            _ = socket.signals.wake.notified() => Ok(()),
            _ = &mut expiry => return close(CloseCode::Other(4001), "token expired"),
            message = inbound.next() => {
                socket.last_heard = Instant::now();
                let message = match message {
                    None => return None,
                    Some(Err(err)) => return protocol_error(err),
                    Some(Ok(AggregatedMessage::Close(_))) => {
                        // The reply ends the connection at once (`super::closing`).
                        socket.client_closed.set();
                        return close(CloseCode::Normal, "bye");
                    }
                    Some(Ok(message)) => message,
                };
                match limiter.check() {
                    FrameVerdict::Flood => return close(CloseCode::Policy, FLOODING),
                    // Boxed, like every rare path: inline, its state would size every socket's task.
                    FrameVerdict::Reject => Box::pin(socket.refuse(&message)).await,
                    FrameVerdict::Admit => on_message(socket, message, expiry.as_mut(), &mut limiter).await,
                }
            }
            Some(event) = outbox.recv() => on_event(socket, event).await,
            _ = heartbeat.tick() => {
                if hears_client && socket.last_heard.elapsed() > settings.ping_timeout {
                    return close(CloseCode::Away, "heartbeat timeout");
                }
                socket.write_control(None).await
            }
            _ = async { sleep_until(repair_at.unwrap_or_else(Instant::now)).await }, if repair_at.is_some() => {
                socket.repair().await
            }
        };
        if let Err(stop) = step {
            return stop;
        }
    }
}

/// Replays or resumes where the client asked, after the greeting.
async fn begin(socket: &mut Socket, start: Start) -> Result<(), Stop> {
    match start {
        Start::Now => Ok(()),
        Start::Since(since) => Box::pin(socket.replay(since, &None)).await,
        Start::After(event_id) => Box::pin(socket.resume(event_id)).await,
    }
}

/// Reads where the user's stream stands and sends `connection_established`. The socket is
/// registered in the hub before the database is read: nothing committed in between can be
/// missed (its event is already queued in the outbox).
async fn greet(socket: &mut Socket) -> Result<(), Stop> {
    let snapshot = match socket.ctx.inbox.snapshot(socket.principal).await {
        Ok(snapshot) => snapshot,
        Err(err) => return Err(close(CloseCode::Error, &format!("{}: retry", ApiError::from(err).code()))),
    };
    socket.delivery = Delivery::new(socket.id, snapshot.position, snapshot.newest_id);
    socket.ctx.hub.note_position(socket.principal.user_id, snapshot.position);
    // Serialized in its own statement: a named frame here would stay in this task's state
    // (every idle socket's memory) for the socket's life.
    let greeting = ServerFrame::ConnectionEstablished {
        user_id: socket.principal.user_id,
        unread_count: snapshot.unread_count,
        last_id: snapshot.newest_id,
        unseen_count: snapshot.unseen_count,
    }
    .to_text();
    socket.send(greeting).await
}

/// A client frame the per-socket rate limit admitted (the user's budget is drawn from by
/// `handle_text`, its refusals counted in `limiter`). A refreshed token moves the expiry timer.
async fn on_message(
    socket: &mut Socket,
    message: AggregatedMessage,
    expiry: Pin<&mut Sleep>,
    limiter: &mut FrameLimiter,
) -> Result<(), Stop> {
    match message {
        AggregatedMessage::Text(text) => {
            let expires_at = socket.principal.expires_at;
            let step = Box::pin(socket.handle_text(&text, limiter)).await;
            if socket.principal.expires_at != expires_at {
                expiry.reset(expiry_deadline(socket));
            }
            step
        }
        AggregatedMessage::Binary(_) => {
            let err = ApiError::BadRequest("binary frames are not supported: send JSON text frames");
            Box::pin(socket.send_error(&err, &None)).await
        }
        AggregatedMessage::Ping(payload) => socket.write_control(Some(&payload)).await,
        AggregatedMessage::Pong(_) | AggregatedMessage::Close(_) => Ok(()),
    }
}

/// Takes an event from the outbox and writes what is due.
async fn on_event(socket: &mut Socket, event: Arc<Event>) -> Result<(), Stop> {
    match socket.delivery.receive(event, Instant::now()) {
        Received::Repeat | Received::Held => Ok(()),
        Received::RepairNow => socket.repair().await,
        Received::InOrder => socket.write_due().await,
    }
}

/// When the token expires, with the same leeway the handshake allowed: a token accepted
/// within the leeway is not closed with 4001 right after the greeting.
fn expiry_deadline(socket: &Socket) -> Instant {
    let now_secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let left = (socket.principal.expires_at - now_secs).max(0) as u64;
    Instant::now() + Duration::from_secs(left) + socket.ctx.settings.token_leeway
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
