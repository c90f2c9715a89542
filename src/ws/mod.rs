//! The live stream's endpoints: the WebSocket `GET /ws/notifications/` and its one-way fallback
//! `GET /sse/notifications/` (`sse`). The handshake checks the browser `Origin` (403) and the
//! token (`?token=` or `Authorization: Bearer`; 401) before any upgrade, then one session task
//! per socket or stream takes over (`session`: the IO loop; `socket`: its state and writes;
//! `outlet`: where they go; `frames`: client frames → inbox; `replay`: replay, resume and repair;
//! `delivery`: the pure state machine). `protocol` is the wire format; `frame_limit` refuses a
//! frame over 64 KiB at its header, before its payload is buffered; `closing` ends the
//! connection as soon as the client closes it (a close handshake, an SSE client's hang-up).

mod closing;
mod context;
pub mod delivery;
mod frame_limit;
mod frames;
mod outlet;
pub mod protocol;
mod replay;
pub mod session;
mod socket;
pub mod sse;

pub use closing::on_connect;
pub use context::{WsContext, WsSettings};
pub use outlet::EventId;

use outlet::Outlet;
use session::{Inbound, Start};

use closing::{ClientClosed, ClosingBody, ConnectionFd};

use crate::auth::bearer_token;
use crate::domain::{AllowedOrigins, Principal, QueryString, UserId};
use crate::error::ApiError;
use crate::event::SessionId;
use crate::hub::{SessionInfo, MAX_USER_AGENT_BYTES};
use crate::limits::budget::Action;
use crate::limits::cluster::Verdict;
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use std::sync::Arc;

/// Largest client frame (and reassembled message) accepted; larger closes with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// The handshake state of the endpoint.
pub struct WsEndpoint {
    /// Shared by every session of the node (one pointer per socket, not a copy).
    pub context: Arc<WsContext>,
    /// The browser origins allowed to connect (`ALLOWED_ORIGINS`).
    pub origins: AllowedOrigins,
    /// Open sockets this node accepts, in all and per user.
    pub max_sockets: usize,
    pub max_sockets_per_user: usize,
    /// Handshakes per second this node accepts.
    pub handshakes: crate::limits::local::HandshakeBudget,
}

/// The handshake: origin (403), token (401), the user's budget (429: a handshake costs a read,
/// a replay with `since`), then `admit`'s node and user limits, then the upgrade.
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    endpoint: web::Data<WsEndpoint>,
) -> Result<HttpResponse, ApiError> {
    let query = QueryString::parse(req.query_string())?;
    let since = match query.first("since") {
        None | Some("") => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::validation("since", "must be a non-negative integer"))?,
        ),
    };
    let cost = if since.is_some() { Action::Replay } else { Action::Read };
    let (principal, id) = admit(&req, &query, &endpoint, cost).await?;
    let upgraded = upgrade(&req, body).await;
    let Ok((response, socket, stream)) = upgraded else {
        endpoint.release(principal.user_id, id);
        return upgraded.map(|(response, ..)| response);
    };
    let client_closed = ClientClosed::default();
    let connection = req.conn_data::<ConnectionFd>().copied();
    let body_closed = client_closed.clone();
    let response = response.map_body(|_, body| ClosingBody::new(body, connection, body_closed)).map_into_boxed_body();
    let start = since.map_or(Start::Now, Start::Since);
    let (outlet, inbound) = (Outlet::WebSocket(socket), Inbound::Frames(stream));
    let session = session::run(
        endpoint.context.clone(),
        principal,
        (id, client_closed, session_info(&req)),
        start,
        outlet,
        inbound,
    );
    actix_web::rt::spawn(session);
    Ok(response)
}

/// What every stream (WebSocket or SSE) passes before it opens: the origin (403), the token from
/// `?token=` or `Authorization: Bearer` (401), the user's budget (429), the node's handshake
/// budget and socket limits (503), the user's socket cap (429; on this node, then cluster-wide
/// when Redis is configured). The session id it returns holds a cluster-wide claim until
/// `release` (or the session's end).
async fn admit(
    req: &HttpRequest,
    query: &QueryString,
    endpoint: &WsEndpoint,
    cost: Action,
) -> Result<(Principal, SessionId), ApiError> {
    if !origin_allowed(req, &endpoint.origins) {
        return Err(ApiError::Forbidden("origin not allowed"));
    }
    let token = query
        .first("token")
        .filter(|t| !t.is_empty())
        .or_else(|| bearer_token(req))
        .ok_or(ApiError::Unauthorized("missing token"))?;
    let principal = endpoint.context.verifier.verify(token).await?;
    endpoint.context.budgets.admit(&principal, cost).await?;
    endpoint.handshakes.admit()?;
    let hub = &endpoint.context.hub;
    if hub.session_count() >= endpoint.max_sockets {
        return Err(ApiError::unavailable("node at its socket limit (HERALD_MAX_SOCKETS)"));
    }
    if hub.user_session_count(principal.user_id) >= endpoint.max_sockets_per_user {
        return Err(ApiError::RateLimited { retry_after_secs: 5 });
    }
    let id = SessionId(rand::random());
    if let Some(limits) = &endpoint.context.cluster_limits {
        if let Verdict::Refuse(_) = limits.claim_socket(principal.user_id, id).await {
            return Err(ApiError::RateLimited { retry_after_secs: 5 });
        }
    }
    Ok((principal, id))
}

impl WsEndpoint {
    /// Gives back the cluster-wide claim of a session that did not open.
    fn release(&self, user: UserId, id: SessionId) {
        if let Some(limits) = &self.context.cluster_limits {
            limits.release_socket(user, id);
        }
    }
}

/// The upgrade to a WebSocket whose frames are bounded by `MAX_FRAME_BYTES`.
async fn upgrade(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<(HttpResponse, actix_ws::Session, actix_ws::AggregatedMessageStream), ApiError> {
    // A frame declaring more than the limit is refused at its header, not buffered first.
    let body = frame_limit::limit_frames(req, body, MAX_FRAME_BYTES)
        .await
        .map_err(|e| ApiError::internal(format!("WebSocket payload: {e}")))?;
    let (response, socket, stream) =
        actix_ws::handle(req, body).map_err(|_| ApiError::BadRequest("expected a WebSocket upgrade request"))?;
    let stream =
        stream.max_frame_size(MAX_FRAME_BYTES).aggregate_continuations().max_continuation_size(MAX_FRAME_BYTES);
    Ok((response, socket, stream))
}

/// Who is behind the socket, for the admin console: the client's address as a proxy in front
/// forwarded it (`X-Real-IP`, else the first `X-Forwarded-For` entry: nginx sets both), else
/// the TCP peer's; and its user agent, cut to `MAX_USER_AGENT_BYTES`.
fn session_info(req: &HttpRequest) -> SessionInfo {
    let text = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let forwarded = text("x-real-ip").or_else(|| text("x-forwarded-for").and_then(|v| v.split(',').next()));
    let client_addr = match forwarded.filter(|v| !v.is_empty()) {
        Some(addr) => Some(cut(addr, 64)),
        None => req.peer_addr().map(|peer| peer.ip().to_string().into_boxed_str()),
    };
    let user_agent = text("user-agent").filter(|v| !v.is_empty()).map(|ua| cut(ua, MAX_USER_AGENT_BYTES));
    let connected_at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    SessionInfo { connected_at, client_addr, user_agent }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> Box<str> {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].into()
}

/// Browsers send `Origin`; other clients may not, and are not subject to the check.
fn origin_allowed(req: &HttpRequest, origins: &AllowedOrigins) -> bool {
    match req.headers().get(header::ORIGIN) {
        None => true,
        Some(origin) => {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
            origin.to_str().is_ok_and(|origin| origins.allows(origin, host))
        }
    }
}
