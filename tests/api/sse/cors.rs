//! CORS from `ALLOWED_ORIGINS`: a listed origin's preflight is answered (its origin echoed, a
//! max-age), its requests and its event stream carry `access-control-allow-origin`; an unlisted
//! origin gets none; without the list no CORS header is sent at all; a page on the node's own host
//! passes unlisted, for REST, the WebSocket and the stream.

use crate::helpers::*;
use awc::http::header::HeaderMap;
use awc::http::{Method, StatusCode};

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example.com";
const ALLOW_ORIGIN: &str = "access-control-allow-origin";

/// Sends `method path` with `headers` and no body; status and headers (the body is read and
/// dropped: a refused preflight's is text).
async fn send(app: &TestApp, method: Method, path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap) {
    let mut req = app.client.request(method, app.url(path));
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    let mut res = req.send().await.expect("request reaches the node");
    let _ = res.body().await;
    (res.status(), res.headers().clone())
}

/// A browser's preflight for `GET /auth/notifications/` with a bearer token, from `origin`.
async fn preflight(app: &TestApp, origin: &str) -> (StatusCode, HeaderMap) {
    let headers = [
        ("Origin", origin),
        ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Headers", "authorization"),
    ];
    send(app, Method::OPTIONS, "/auth/notifications/", &headers).await
}

fn value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether any `access-control-*` header is present.
fn any_cors_header(headers: &HeaderMap) -> Vec<String> {
    headers.keys().map(|k| k.as_str().to_owned()).filter(|k| k.starts_with("access-control-")).collect()
}

#[actix_web::test]
async fn a_listed_origin_is_answered_and_an_unlisted_one_is_not() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("ALLOWED_ORIGINS", APP)]).await;
    let (status, headers) = preflight(&app, APP).await;
    assert_eq!(status, StatusCode::OK, "{headers:?}");
    assert_eq!(value(&headers, ALLOW_ORIGIN), Some(APP), "{headers:?}");
    let max_age = value(&headers, "access-control-max-age").and_then(|v| v.parse::<u64>().ok());
    assert!(max_age.is_some_and(|s| s > 0), "a max-age: {headers:?}");
    let methods = value(&headers, "access-control-allow-methods").unwrap_or_default().to_ascii_uppercase();
    assert!(methods.contains("GET"), "{headers:?}");
    let allowed = value(&headers, "access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{headers:?}");
    assert_eq!(value(&headers, "access-control-allow-credentials"), None, "bearer tokens only: {headers:?}");

    let (status, headers) = preflight(&app, EVIL).await;
    assert_eq!(value(&headers, ALLOW_ORIGIN), None, "{status}: {headers:?}");
    println!("preflight from an unlisted origin: {status}");

    // The request itself carries the header for the listed origin only.
    let bearer = format!("Bearer {}", token(1));
    let (status, headers) =
        send(&app, Method::GET, "/auth/notifications/", &[("Origin", APP), ("Authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::OK, "{headers:?}");
    assert_eq!(value(&headers, ALLOW_ORIGIN), Some(APP), "{headers:?}");
    let (status, headers) =
        send(&app, Method::GET, "/auth/notifications/", &[("Origin", EVIL), ("Authorization", &bearer)]).await;
    assert_eq!(value(&headers, ALLOW_ORIGIN), None, "{status}: {headers:?}");

    // The event stream too: a cross-origin `EventSource` needs it.
    let (sse, _) = SseClient::open_with(app.port, &sse_path(&format!("?token={}", token(1))), &[("Origin", APP)]).await;
    assert_eq!(sse.header(ALLOW_ORIGIN), Some(APP), "{:?}", sse.headers);
}

#[actix_web::test]
async fn without_allowed_origins_no_cors_header_is_sent() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (status, headers) = preflight(&app, APP).await;
    assert_eq!(any_cors_header(&headers), Vec::<String>::new(), "{status}: {headers:?}");
    let bearer = format!("Bearer {}", token(1));
    let (status, headers) =
        send(&app, Method::GET, "/auth/notifications/", &[("Origin", APP), ("Authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(any_cors_header(&headers), Vec::<String>::new(), "{headers:?}");
    // Any origin may open a stream; still no CORS header.
    let (sse, _) =
        SseClient::open_with(app.port, &sse_path(&format!("?token={}", token(1))), &[("Origin", EVIL)]).await;
    assert!(sse.headers.iter().all(|(name, _)| !name.starts_with("access-control-")), "{:?}", sse.headers);
}

#[actix_web::test]
async fn a_page_on_the_nodes_own_host_is_allowed_unlisted() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("ALLOWED_ORIGINS", APP)]).await;
    let own = format!("http://127.0.0.1:{}", app.port);
    let (status, headers) = preflight(&app, &own).await;
    assert_eq!(status, StatusCode::OK, "{headers:?}");
    assert_eq!(value(&headers, ALLOW_ORIGIN), Some(own.as_str()), "{headers:?}");
    let bearer = format!("Bearer {}", token(2));
    let (status, headers) =
        send(&app, Method::GET, "/auth/notifications/", &[("Origin", &own), ("Authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::OK, "{headers:?}");
    assert_eq!(value(&headers, ALLOW_ORIGIN), Some(own.as_str()), "{headers:?}");

    // The WebSocket handshake...
    let url = ws_url(&app, &format!("?token={}", token(2)));
    let mut ws = WsClient::try_connect(&url, &[("Origin", &own)])
        .await
        .unwrap_or_else(|refused| panic!("the node's own page was refused a socket: {refused:?}"));
    assert_eq!(ws.next_json().await["type"], "connection_established");
    // ...and the stream's.
    let (_sse, hello) =
        SseClient::open_with(app.port, &sse_path(&format!("?token={}", token(2))), &[("Origin", &own)]).await;
    assert_eq!(hello["user_id"], 2);
    // Another port on the same address is another origin.
    let other = format!("http://127.0.0.1:{}", app.port.wrapping_add(1));
    let refused = WsClient::try_connect(&url, &[("Origin", &other)]).await.err().expect("another origin");
    assert_eq!(refused.status, 403);
    let refused = SseClient::request(app.port, &sse_path(&format!("?token={}", token(2))), &[("Origin", &other)]).await;
    assert_eq!(refused.err().map(|r| r.status), Some(403));
}
