//! `GET /sse/notifications/`: the live stream as server-sent events, for clients whose network
//! blocks WebSockets. It passes the same handshake checks and limits as a WebSocket (`admit`),
//! then one session serves it as it serves a socket: the same greeting, delivery, repair and
//! closes, written as SSE (`outlet`). A reconnect's `Last-Event-ID` header (or
//! `?last_event_id=`, for a client opening a new stream with a fresh token) resumes after the
//! last event it got: what it missed, then live. Client actions stay on REST.

use super::closing::{ClientClosed, PeerHangup};
use super::outlet::{self, EventId, Outlet, EVENT_STREAM_CHUNKS};
use super::session::{self, Inbound, Start};
use super::{admit, session_info, WsEndpoint};
use crate::domain::QueryString;
use crate::error::ApiError;
use crate::limits::budget::Action;
use actix_web::http::header::{self, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use std::convert::Infallible;
use tokio::sync::mpsc;

/// The header a browser's `EventSource` sends on reconnecting.
const LAST_EVENT_ID: &str = "last-event-id";

/// Opens the stream: origin, token and limits as a WebSocket handshake (a resume costs a
/// replay), then `200 text/event-stream`, unbuffered by proxies (`X-Accel-Buffering: no`).
pub async fn connect(req: HttpRequest, endpoint: web::Data<WsEndpoint>) -> Result<HttpResponse, ApiError> {
    let query = QueryString::parse(req.query_string())?;
    let resume = resume_point(&req, &query)?;
    let cost = if resume.is_some() { Action::Replay } else { Action::Read };
    let (principal, id) = admit(&req, &query, &endpoint, cost).await?;
    let (body, mut events) = mpsc::channel::<Bytes>(EVENT_STREAM_CHUNKS);
    // Room for one chunk is free in a new channel.
    let _ = body.try_send(outlet::sse_preamble());
    let start = resume.map_or(Start::Now, Start::After);
    let (outlet, inbound) = (Outlet::EventStream(body.clone()), Inbound::Listener(body, PeerHangup::watch(&req)));
    let session = session::run(
        endpoint.context.clone(),
        principal,
        (id, ClientClosed::default(), session_info(&req)),
        start,
        outlet,
        inbound,
    );
    actix_web::rt::spawn(session);
    let stream =
        futures_util::stream::poll_fn(move |cx| events.poll_recv(cx).map(|chunk| chunk.map(Ok::<_, Infallible>)));
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header(header::CacheControl(vec![CacheDirective::NoCache, CacheDirective::NoStore]))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(stream))
}

/// Where a reconnecting client resumes: `Last-Event-ID`, else `?last_event_id=`; an empty one
/// is none; a malformed one is 400 on `last_event_id`.
fn resume_point(req: &HttpRequest, query: &QueryString) -> Result<Option<EventId>, ApiError> {
    let header = req.headers().get(LAST_EVENT_ID).map(|v| v.to_str().unwrap_or("?"));
    match header.or_else(|| query.first("last_event_id")).map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => EventId::parse(raw).map(Some).ok_or_else(|| {
            ApiError::validation("last_event_id", "must be an event id as sent (`<position>:<notification id>`)")
        }),
    }
}
