//! Frame floods are counted over a window whatever is admitted in between; pings count.

use crate::helpers::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[actix_web::test]
async fn a_flood_of_refused_64_kib_frames_is_closed_with_1008_within_seconds() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("HERALD_WS_FRAMES_PER_SECOND", "5")]).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let big = format!("{{\"type\":\"ping\",\"request_id\":7,\"pad\":\"{}\"}}", "x".repeat(60 * 1024));
    let started = Instant::now();
    let flood = async {
        for _ in 0..500 {
            if ws.stream.send(Message::text(big.clone())).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(WAIT, flood).await;
    let (code, before) = ws.close_within(WAIT).await;
    assert_eq!(code, Some(1008), "after {} frames", before.len());
    assert!(started.elapsed() < Duration::from_secs(5), "closed within a few seconds: {:?}", started.elapsed());
    let refused: Vec<&Value> = before.iter().filter(|f| f["code"] == "rate_limited").collect();
    assert!(!refused.is_empty(), "refused frames are answered: {} frames", before.len());
    for frame in refused {
        assert!(frame.get("request_id").is_none(), "a refused 60 KiB frame is not parsed for its request_id: {frame}");
    }
}

#[actix_web::test]
async fn admitted_frames_in_between_do_not_forgive_a_flood() {
    // 2 frames/s; 3 frames every 100 ms: one admitted now and then, the rest refused. Counting
    // refusals "in a row" would reset at each admitted frame and never close.
    let app = TestApp::spawn_with(Backend::Sqlite, &[("HERALD_WS_FRAMES_PER_SECOND", "2")]).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    let mut code = None;
    let mut pongs = 0;
    let deadline = Instant::now() + Duration::from_secs(6);
    'rounds: while Instant::now() < deadline {
        for _ in 0..3 {
            if ws.stream.send(Message::text(json!({"type": "ping"}).to_string())).await.is_err() {
                break 'rounds;
            }
        }
        let (closed, frames) = ws.close_within(Duration::from_millis(100)).await;
        pongs += frames.iter().filter(|f| f["type"] == "pong").count();
        if closed.is_some() {
            code = closed;
            break;
        }
    }
    if code.is_none() {
        code = ws.close_within(Duration::from_secs(2)).await.0;
    }
    assert!(pongs >= 3, "frames within the rate are served in between: {pongs} pongs");
    assert_eq!(code, Some(1008), "closed as a flood although some frames were admitted");
}

#[actix_web::test]
async fn a_flood_of_websocket_pings_counts_and_is_closed_with_1008() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("HERALD_WS_FRAMES_PER_SECOND", "5")]).await;
    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    for _ in 0..200 {
        if ws.stream.feed(Message::Ping(vec![1, 2, 3].into())).await.is_err() {
            break;
        }
    }
    let _ = ws.stream.flush().await;
    let (code, _) = ws.close_within(WAIT).await;
    assert_eq!(code, Some(1008), "control frames count against the frame limit");
}
