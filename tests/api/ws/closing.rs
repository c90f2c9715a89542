//! The close handshake ends promptly: after a close the client started and the server's reply,
//! the server closes the TCP connection first and at once (RFC 6455 §7.1.1), so a client that
//! waits for it, as the RFC asks, is not held (it was for 0.5–1 s: actix-http lingered for the
//! client to hang up first).

use crate::helpers::*;
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Far below the 0.5–1 s the connection lingered, far above a loaded machine's scheduling.
const PROMPTLY: Duration = Duration::from_millis(300);

#[actix_web::test]
async fn after_a_close_the_client_started_the_server_ends_the_tcp_connection_at_once() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut waits = Vec::new();
    for _ in 0..3 {
        let (mut ws, _) = WsClient::open(&app, &token(1)).await;
        ws.stream.close(None).await.expect("close sent");
        let reply = tokio::time::timeout(WAIT, ws.stream.next()).await.expect("a reply within WAIT");
        assert!(matches!(reply, Some(Ok(Message::Close(_)))), "the server answers the close: {reply:?}");
        let replied = Instant::now();
        // The client now waits for the server to end the connection (tungstenite reads to EOF).
        let end = tokio::time::timeout(WAIT, ws.stream.next()).await.expect("the server ends the connection");
        assert!(matches!(end, None | Some(Err(_))), "nothing after the close: {end:?}");
        waits.push(replied.elapsed());
    }
    assert!(waits.iter().all(|wait| *wait < PROMPTLY), "TCP ended after the close reply in {waits:?}");
    // The node is still fine.
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    ws.send_json(serde_json::json!({"type": "ping", "request_id": 1})).await;
    assert_eq!(ws.next_json().await["type"], "pong");
}
