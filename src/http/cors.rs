//! CORS (`actix-cors`) from `ALLOWED_ORIGINS`: a browser app on a listed origin may call the REST
//! API, load `/static/herald.js` as a module and open the SSE stream. Bearer tokens only, never
//! credentials (cookies); preflights are cached for `PREFLIGHT_MAX_AGE_SECS`. Without the list no
//! CORS headers are sent (same-origin only). An unlisted origin gets no CORS headers (its browser
//! refuses the answer) and its preflight a 400; the WebSocket and SSE handshakes refuse it (403).

use crate::domain::AllowedOrigins;
use actix_cors::Cors;
use actix_web::http::{header, Method};
use actix_web::middleware::Condition;

/// How long a browser may reuse a preflight's answer.
pub const PREFLIGHT_MAX_AGE_SECS: usize = 600;

/// The CORS middleware, active only when `ALLOWED_ORIGINS` is set.
pub fn cors(origins: &AllowedOrigins) -> Condition<Cors> {
    let allowed = origins.clone();
    let cors = Cors::default()
        .allowed_origin_fn(move |origin, head| {
            let host = head.headers().get(header::HOST).and_then(|h| h.to_str().ok());
            origin.to_str().is_ok_and(|origin| allowed.allows(origin, host))
        })
        .allowed_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([header::RETRY_AFTER, header::WWW_AUTHENTICATE])
        .max_age(PREFLIGHT_MAX_AGE_SECS);
    Condition::new(origins.is_restricted(), cors)
}
