//! Logs: one line per request (method, path, status, latency), and no token ever appears in
//! them — not from `?token=` on the WebSocket URL, not from `Authorization` headers, not at
//! debug level, not when the token is refused.

use crate::helpers::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn tokens_never_reach_the_logs_even_at_debug_level() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("herald.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut node = Node(
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("JWT_SECRET", SECRET)
            .env("HERALD_BIND", "127.0.0.1:0")
            .env("HERALD_WORKERS", "1")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start herald"),
    );
    let stdout = node.0.stdout.take().expect("stdout");
    let mut base = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("stdout line");
        if let Some(url) = line.strip_prefix("Herald listening on ") {
            base = Some(url.trim().to_owned());
            break;
        }
        assert!(Instant::now() < deadline, "no banner");
    }
    let base = base.expect("banner");
    let port: u16 = base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");

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
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&log_path).unwrap_or_default().contains("GET /ws/notifications/ 101") {
        assert!(Instant::now() < deadline, "the socket's request line never reached the log");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    drop(node);

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
