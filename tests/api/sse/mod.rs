//! The SSE stream `GET /sse/notifications/` (README, WebSocket API): its wire format and closes
//! on one node (`stream`), delivery across nodes sharing Redis, resuming with `Last-Event-ID`
//! after a node is killed and repair after a lost publish (`cluster`), the handshake's checks and
//! limits (`limits`), and CORS from `ALLOWED_ORIGINS` (`cors`).

mod cluster;
mod cors;
mod limits;
mod stream;

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use std::time::Duration;

/// How long a stream must stay quiet to count as "got nothing more".
const QUIET: Duration = Duration::from_millis(500);

/// Asserts a stream was refused with `status` and the JSON error envelope `code`; returns the
/// refusal.
fn assert_refused(result: Result<SseClient, SseRefused>, status: u16, code: &str) -> SseRefused {
    match result {
        Ok(client) => panic!("the stream was accepted ({:?}); expected HTTP {status} {code}", client.headers),
        Err(refused) => {
            assert_eq!(refused.status, status, "{refused:?}");
            assert_eq!(refused.body["error"]["code"], code, "{refused:?}");
            assert!(refused.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{refused:?}");
            refused
        }
    }
}

/// Marks a notification read over REST on the node at `base`, as `user`, asserted 200.
async fn mark_read(base: &str, user: i64, id: i64) {
    let client = awc::Client::builder().timeout(WAIT).finish();
    let url = format!("{base}/auth/notifications/{id}/read/");
    let (status, body) = request(&client, Method::POST, &url, Some(&token(user)), None).await.expect("mark read");
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Creates a notification for `user` (as that user) over REST on the node at `base`; its id.
async fn create_at(base: &str, user: i64, title: &str) -> i64 {
    let client = awc::Client::builder().timeout(WAIT).finish();
    let url = format!("{base}/auth/notifications/create/");
    let body = serde_json::json!({ "title": title });
    let (status, body) = request(&client, Method::POST, &url, Some(&token(user)), Some(body)).await.expect("create");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    id_of(&body["notification"])
}
