//! The stream's handshake: the WebSocket's checks and limits (origin 403, token 401, the user's
//! budget 429, `HERALD_MAX_SOCKETS` 503, `HERALD_MAX_SOCKETS_PER_USER` 429 counting streams and
//! sockets on every node), a malformed `Last-Event-ID` 400, and the token's expiry ending an open
//! stream with a `close` event 4001.

use super::assert_refused;
use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

fn stream_of(user: i64) -> String {
    sse_path(&format!("?token={}", token(user)))
}

/// Opens a stream for `user` on the node at `port`, or the refusal's status.
async fn try_open(port: u16, user: i64) -> Result<SseClient, u16> {
    SseClient::request(port, &stream_of(user), &[]).await.map_err(|refused| refused.status)
}

#[actix_web::test]
async fn the_per_user_socket_cap_counts_streams_and_sockets_on_every_node() {
    let (_db, _redis, nodes) = cluster(2, &[("HERALD_MAX_SOCKETS_PER_USER", "2")]).await;
    let user = 7;
    let (_stream, _) = SseClient::open(nodes[0].port, &token(user)).await;
    let (_socket, _) = WsClient::open(&nodes[1], &token(user)).await;
    for node in &nodes {
        let refused = assert_refused(SseClient::request(node.port, &stream_of(user), &[]).await, 429, "rate_limited");
        assert!(refused.headers.iter().any(|(name, _)| name == "retry-after"), "{refused:?}");
        let url = ws_url(node, &format!("?token={}", token(user)));
        let refused = WsClient::try_connect(&url, &[]).await.err().expect("a third socket is refused");
        assert_eq!(refused.status, 429, "{:?}", refused.body);
    }
    // Another user is not affected.
    let (_other, _) = SseClient::open(nodes[0].port, &token(8)).await;
}

/// A browser closing its `EventSource` (a tab closed or reloaded) leaves without a word: its
/// stream must give its place back as a WebSocket's does, without waiting for a heartbeat write
/// to fail (`HERALD_WS_PING_INTERVAL_SECS`, 20 s here).
#[actix_web::test]
async fn a_stream_whose_client_left_gives_its_place_back() {
    let (_db, _redis, nodes) = cluster(2, &[("HERALD_MAX_SOCKETS_PER_USER", "1")]).await;
    let user = 9;
    let (first, _) = SseClient::open(nodes[0].port, &token(user)).await;
    assert_eq!(try_open(nodes[1].port, user).await.err(), Some(429), "the cap of 1 holds across nodes");
    drop(first);
    let reopened = poll(WAIT, async || try_open(nodes[1].port, user).await).await;
    let mut reopened = reopened.unwrap_or_else(|status| panic!("the closed stream's place is still taken: {status}"));
    assert_eq!(reopened.next_event().await.event, "connection_established");
}

#[actix_web::test]
async fn a_node_at_its_socket_limit_refuses_streams_with_503() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("HERALD_MAX_SOCKETS", "1")]).await;
    let (_held, _) = SseClient::open(app.port, &token(1)).await;
    assert_refused(SseClient::request(app.port, &stream_of(2), &[]).await, 503, "unavailable");
    let refused = WsClient::try_connect(&ws_url(&app, &format!("?token={}", token(2))), &[]).await.err();
    assert_eq!(refused.expect("the socket is refused too").status, 503);
}

#[actix_web::test]
async fn opening_streams_draws_from_the_users_budget() {
    let budget = [("HERALD_RATE_LIMIT_PER_SECOND", "1"), ("HERALD_RATE_LIMIT_BURST", "2")];
    let app = TestApp::spawn_with(Backend::Postgres, &budget).await;
    // A resume costs a replay (the whole burst): the next opens are refused until it refills.
    let path = sse_path(&format!("?token={}&last_event_id=0:0", token(3)));
    let (_resumed, _) = SseClient::open_with(app.port, &path, &[]).await;
    let mut held = Vec::new();
    let refused = loop {
        match SseClient::request(app.port, &stream_of(3), &[]).await {
            Ok(stream) if held.len() < 10 => held.push(stream),
            Ok(_) => panic!("ten more streams opened on a burst of 2 at 1/s"),
            Err(refused) => break refused,
        }
    };
    let refused = assert_refused(Err(refused), 429, "rate_limited");
    assert!(refused.headers.iter().any(|(name, _)| name == "retry-after"), "{refused:?}");
}

#[actix_web::test]
async fn a_missing_bad_or_expired_token_is_401() {
    let app = TestApp::spawn(Backend::Postgres).await;
    assert_refused(SseClient::request(app.port, &sse_path(""), &[]).await, 401, "unauthorized");
    assert_refused(SseClient::request(app.port, &sse_path("?token="), &[]).await, 401, "unauthorized");
    assert_refused(SseClient::request(app.port, &sse_path("?token=not-a-jwt"), &[]).await, 401, "unauthorized");
    let bad_header = [("Authorization", "Bearer not-a-jwt")];
    assert_refused(SseClient::request(app.port, &sse_path(""), &bad_header).await, 401, "unauthorized");
    let expired = sign(&json!({"token_type": "access", "user_id": 1, "exp": now_secs() - 3600}));
    let path = sse_path(&format!("?token={expired}"));
    assert_refused(SseClient::request(app.port, &path, &[]).await, 401, "unauthorized");
}

#[actix_web::test]
async fn a_browser_origin_not_in_allowed_origins_is_403() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let evil = [("Origin", "https://evil.example.com")];
    assert_refused(SseClient::request(app.port, &stream_of(3), &evil).await, 403, "forbidden");
    // Checked before the token.
    assert_refused(SseClient::request(app.port, &sse_path(""), &evil).await, 403, "forbidden");
    let (_allowed, hello) =
        SseClient::open_with(app.port, &stream_of(3), &[("Origin", "https://app.example.com")]).await;
    assert_eq!(hello["user_id"], 3);
    // A client sending no Origin is not a browser and is not checked.
    let (_no_origin, _) = SseClient::open(app.port, &token(3)).await;
}

#[actix_web::test]
async fn a_malformed_last_event_id_is_400_on_last_event_id() {
    let app = TestApp::spawn(Backend::Postgres).await;
    for bad in ["abc", "12", "12:", ":5", "-1:5", "1:-5", "1:2:3", "1.5:2"] {
        for (path, headers) in [
            (stream_of(1), vec![("Last-Event-ID", bad)]),
            (sse_path(&format!("?token={}&last_event_id={bad}", token(1))), vec![]),
        ] {
            let refused = assert_refused(SseClient::request(app.port, &path, &headers).await, 400, "validation_error");
            assert_eq!(refused.body["error"]["field"], "last_event_id", "{bad:?}: {refused:?}");
        }
    }
    // An empty one is no cursor: the stream opens at the greeting.
    let (_fresh, hello) = SseClient::open_with(app.port, &stream_of(1), &[("Last-Event-ID", "")]).await;
    assert_eq!(hello["user_id"], 1);
}

#[actix_web::test]
async fn an_expiring_token_ends_the_stream_with_a_close_event_4001() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("JWT_LEEWAY_SECONDS", "1")]).await;
    let short = sign(&json!({"token_type": "access", "user_id": 4, "exp": now_secs() + 3}));
    let (mut sse, _) = SseClient::open(app.port, &short).await;
    let (code, reason, before) = sse.expect_close(Duration::from_secs(60)).await;
    assert_eq!(code, 4001, "{reason}");
    assert!(before.is_empty(), "{before:?}");
}
