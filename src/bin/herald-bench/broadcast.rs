//! `broadcast`: N online users (one socket each, over the `--ws-url` nodes); one broadcast to
//! all of them: POST → last push.

use crate::client::{staff_token, token_for, unlimited_client};
use crate::error::BenchError;
use crate::sockets::{open_many, ws_url, Socket};
use futures_util::StreamExt;
use herald::config::Config;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How many sockets got the push, and when the last one did.
#[derive(Default)]
struct Received {
    count: usize,
    last_at: Option<Instant>,
}

pub async fn run(
    base: &str,
    ws_bases: &[String],
    config: &Config,
    users: usize,
    concurrency: usize,
) -> Result<(), BenchError> {
    let client = unlimited_client();
    let urls: Vec<String> = (1..=users as i64)
        .map(|u| token_for(config, u).map(|t| ws_url(&ws_bases[u as usize % ws_bases.len()], &t)))
        .collect::<Result<_, _>>()?;
    let (sockets, failed) = open_many(&client, &urls, concurrency).await;
    if failed > 0 {
        return Err(BenchError::NotOpened { failed, total: users });
    }
    // Let every node confirm its subscriptions (and finish the repairs they trigger).
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let received = Rc::new(RefCell::new(Received::default()));
    let readers: Vec<_> =
        sockets.into_iter().map(|framed| actix_web::rt::spawn(count_push(framed, received.clone()))).collect();
    let staff = staff_token(config)?;
    let ids: Vec<usize> = (1..=users).collect();
    let started = Instant::now();
    let mut res = client
        .post(format!("{base}/auth/notifications/broadcast/"))
        .bearer_auth(&staff)
        .send_json(&serde_json::json!({"user_ids": ids, "title": "broadcast bench"}))
        .await?;
    let status = res.status().as_u16();
    let _ = res.body().limit(4 << 20).await;
    let responded = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.borrow().count < users && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered = received.borrow().count;
    let last = received.borrow().last_at.map(|t| t.duration_since(started)).unwrap_or_default();
    println!(
        "broadcast: users={users} nodes={} status={status} response_ms={:.1} delivered={} lost={} post_to_last_push_ms={:.1}",
        ws_bases.len(),
        responded.as_secs_f64() * 1000.0,
        delivered,
        users - delivered,
        last.as_secs_f64() * 1000.0
    );
    for reader in readers {
        reader.abort();
    }
    Ok(())
}

/// Counts the socket's first push, once; the socket stays open (closing it here would add the
/// node's teardown work to the delivery being measured).
async fn count_push(mut framed: Socket, received: Rc<RefCell<Received>>) {
    const PUSH: &[u8] = b"\"type\":\"notification\"";
    let mut counted = false;
    while let Some(Ok(frame)) = framed.next().await {
        if let awc::ws::Frame::Text(bytes) = frame {
            if !counted && bytes.windows(PUSH.len()).any(|w| w == PUSH) {
                counted = true;
                let mut received = received.borrow_mut();
                received.count += 1;
                received.last_at = Some(Instant::now());
            }
        }
    }
}
