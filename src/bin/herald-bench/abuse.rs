//! `abuse`: one abusive end user for `--duration`: it holds `--sockets` sockets sending the
//! largest `send_notification` frames as fast as the node admits them (waiting `retry_after`
//! when refused, reconnecting when closed) while `--rest` clients create over REST in a loop
//! (waiting `Retry-After` on 429). Prints what the abuser got written. `bench/abuse.sh` times
//! another user's delivery meanwhile with `latency` in another process (so the abuser's pushes
//! are not parsed on the thread that times the victim) and adds the database's growth.

use crate::client::{token_for, unlimited_client};
use crate::error::BenchError;
use crate::sockets::{open_socket, ws_url, Socket};
use futures_util::{SinkExt, StreamExt};
use herald::config::Config;
use serde_json::{json, Value};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The longest wait for the reply to one frame or request.
const REPLY_WITHIN: Duration = Duration::from_secs(10);
/// Reconnections of one abusive socket, at most.
const MAX_RECONNECTS: u32 = 100;

/// One `abuse` run.
pub struct Abuse {
    pub duration: Duration,
    pub sockets: usize,
    pub rest: usize,
    /// The abuser's user id.
    pub abuser: i64,
}

/// What the abuser got: notifications written, refusals, closes and failures.
#[derive(Default)]
struct Tally {
    written: Cell<u64>,
    refused: Cell<u64>,
    closed: Cell<u64>,
    failed: Cell<u64>,
}

impl Tally {
    fn add(counter: &Cell<u64>) {
        counter.set(counter.get() + 1);
    }
}

pub async fn run(base: &str, ws_bases: &[String], config: &Config, abuse: Abuse) -> Result<(), BenchError> {
    let tally = Rc::new(Tally::default());
    let stop = Rc::new(Cell::new(false));
    let client = unlimited_client();
    let token = token_for(config, abuse.abuser)?;
    let body = Rc::new(largest_notification(abuse.abuser));
    let mut tasks = Vec::new();
    for i in 0..abuse.sockets {
        let url = ws_url(&ws_bases[i % ws_bases.len()], &token);
        let abuser = SocketAbuser { client: client.clone(), url, body: body.clone(), tally: tally.clone() };
        tasks.push(actix_web::rt::spawn(abuser.run(stop.clone())));
    }
    for _ in 0..abuse.rest {
        let (client, url, token) = (client.clone(), format!("{base}/auth/notifications/create/"), token.clone());
        tasks.push(actix_web::rt::spawn(create_in_a_loop(
            client,
            url,
            token,
            body.clone(),
            tally.clone(),
            stop.clone(),
        )));
    }
    let started = Instant::now();
    actix_web::rt::time::sleep(abuse.duration).await;
    stop.set(true);
    let seconds = started.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    println!(
        "abuser: sockets={} rest_clients={} seconds={seconds:.1} written={} refused={} closed={} failed={} frame_bytes={}",
        abuse.sockets,
        abuse.rest,
        tally.written.get(),
        tally.refused.get(),
        tally.closed.get(),
        tally.failed.get(),
        body.to_string().len(),
    );
    Ok(())
}

/// A create for `user` as large as the limits allow (about 40 KB stored).
fn largest_notification(user: i64) -> Value {
    json!({
        "user_id": user,
        "title": "x".repeat(200),
        // 4-byte characters: 5,000 characters, 20,000 bytes.
        "message": "\u{1F600}".repeat(5000),
        "data": {"pad": "x".repeat(16 * 1024 - 16)},
        "link": format!("https://abuse.test/{}", "a".repeat(2000)),
    })
}

/// One abusive socket: sends the next `send_notification` as soon as the last one is answered.
struct SocketAbuser {
    client: awc::Client,
    url: String,
    body: Rc<Value>,
    tally: Rc<Tally>,
}

impl SocketAbuser {
    async fn run(self, stop: Rc<Cell<bool>>) {
        let mut frame = (*self.body).clone();
        frame["type"] = json!("send_notification");
        let text = frame.to_string();
        let mut reconnects = 0;
        while !stop.get() && reconnects < MAX_RECONNECTS {
            reconnects += 1;
            let Ok(mut socket) = open_socket(&self.client, &self.url).await else {
                Tally::add(&self.tally.failed);
                actix_web::rt::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            while !stop.get() {
                if socket.send(awc::ws::Message::Text(text.clone().into())).await.is_err() {
                    break;
                }
                match next_reply(&mut socket).await {
                    Reply::Sent => Tally::add(&self.tally.written),
                    Reply::Refused(wait) => {
                        Tally::add(&self.tally.refused);
                        actix_web::rt::time::sleep(wait).await;
                    }
                    Reply::Failed => Tally::add(&self.tally.failed),
                    Reply::Closed => {
                        Tally::add(&self.tally.closed);
                        break;
                    }
                }
            }
        }
    }
}

enum Reply {
    Sent,
    Refused(Duration),
    Failed,
    Closed,
}

/// The reply to the last frame (the abuser's own pushes skipped), within `REPLY_WITHIN`.
async fn next_reply(socket: &mut Socket) -> Reply {
    let deadline = tokio::time::Instant::now() + REPLY_WITHIN;
    loop {
        let frame = match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(awc::ws::Frame::Text(bytes)))) => bytes,
            Ok(Some(Ok(awc::ws::Frame::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return Reply::Closed,
            Ok(Some(Ok(_))) => continue,
        };
        let Ok(value) = serde_json::from_slice::<Value>(&frame) else { return Reply::Failed };
        match value["type"].as_str() {
            Some("notification_sent") => return Reply::Sent,
            Some("error") if value["code"] == "rate_limited" => {
                return Reply::Refused(Duration::from_secs(value["retry_after"].as_u64().unwrap_or(1)))
            }
            Some("error") => return Reply::Failed,
            _ => continue,
        }
    }
}

/// REST creates in a loop, each as soon as the last is answered (after `Retry-After` on 429).
async fn create_in_a_loop(
    client: awc::Client,
    url: String,
    token: String,
    body: Rc<Value>,
    tally: Rc<Tally>,
    stop: Rc<Cell<bool>>,
) {
    while !stop.get() {
        let sent = client.post(&url).bearer_auth(&token).timeout(REPLY_WITHIN).send_json(&*body).await;
        let Ok(mut res) = sent else {
            Tally::add(&tally.failed);
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = res.body().await;
        match res.status().as_u16() {
            201 => Tally::add(&tally.written),
            429 => {
                Tally::add(&tally.refused);
                let wait = res.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1);
                actix_web::rt::time::sleep(Duration::from_secs(wait)).await;
            }
            _ => Tally::add(&tally.failed),
        }
    }
}
