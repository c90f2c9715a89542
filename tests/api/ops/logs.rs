//! Logs: one line per request (method, path, status, latency), and no token ever appears in
//! them — not from `?token=` on the WebSocket URL, not from `Authorization` headers, not at
//! debug level, not when the token is refused.

use crate::helpers::*;

#[actix_web::test]
async fn tokens_never_reach_the_logs_even_at_debug_level() {
    let mut node = HeraldProcess::start(
        &[],
        &[("JWT_SECRET", SECRET), ("HERALD_BIND", "127.0.0.1:0"), ("HERALD_WORKERS", "1"), ("RUST_LOG", "debug")],
    );
    node.wait_listening();
    let (base, port) = (node.base_url(), node.port);
    let log_path = node.stderr_path();

    let good = token(7);
    let refused = sign_with(
        &serde_json::json!({"user_id": 7, "exp": now_secs() + 60}),
        jsonwebtoken::Algorithm::HS256,
        "not-the-secret-at-all",
    );
    let client = awc::Client::default();
    for t in [&good, &refused] {
        let _ = client.get(format!("{base}/auth/notifications/?limit=5")).bearer_auth(t).send().await.expect("request");
        let _ = client
            .post(format!("{base}/auth/notifications/create/"))
            .bearer_auth(t)
            .send_json(&serde_json::json!({"title": "logged?"}))
            .await
            .expect("request");
    }
    let ws = format!("ws://127.0.0.1:{port}/ws/notifications/?token={good}&since=0");
    let (mut socket, _) = tokio_tungstenite::connect_async(ws).await.expect("socket");
    use futures_util::StreamExt;
    let _ = tokio::time::timeout(WAIT, socket.next()).await;
    drop(socket);
    let refused_ws = format!("ws://127.0.0.1:{port}/ws/notifications/?token={refused}");
    assert!(tokio_tungstenite::connect_async(refused_ws).await.is_err());
    // A WebSocket's request line is written when the socket ends: wait for it before stopping.
    let logged = async || std::fs::read_to_string(&log_path).unwrap_or_default().contains("GET /ws/notifications/ 101");
    wait_until("the socket's request line in the log", WAIT, logged).await;
    node.kill();

    let logs = std::fs::read_to_string(&log_path).expect("read logs");
    for (name, secret) in [("accepted token", &good), ("refused token", &refused)] {
        // The signature alone identifies a token; check every part that could leak.
        for part in secret.split('.') {
            assert!(!logs.contains(part), "{name} part {part} appears in the logs:\n{logs}");
        }
    }
    let request_lines: Vec<&str> = logs.lines().filter(|l| l.contains("herald::http")).collect();
    assert!(request_lines.iter().any(|l| l.contains("POST /auth/notifications/create/ 201")), "{logs}");
    assert!(request_lines.iter().any(|l| l.contains("GET /auth/notifications/ 401")), "{logs}");
    assert!(request_lines.iter().any(|l| l.contains("GET /ws/notifications/ 101")), "{logs}");
    assert!(request_lines.iter().all(|l| l.ends_with("ms")), "every request line has its latency: {request_lines:?}");
}
