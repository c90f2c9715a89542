//! `latency`: sockets (or SSE streams, `--transport sse`) for `--users` users, then open-loop
//! REST creates at a fixed rate for them; prints create → delivery latency percentiles and how
//! many were lost.

use crate::client::{staff_token, token_for, unlimited_client};
use crate::error::BenchError;
use crate::histogram::{latency_histogram, max_ms, ms_at};
use crate::sockets::{open_socket, ws_url};
use crate::sse::{open_stream, Transport};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use herald::config::Config;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// One `latency` run: `rate` creates/s for `duration`, spread over users `1..=users`.
#[derive(Clone, Copy)]
pub struct Load {
    pub rate: u64,
    pub duration: Duration,
    pub users: i64,
    pub transport: Transport,
}

/// What one `latency` run measured.
pub struct LatencyFigures {
    transport: Transport,
    rate: u64,
    pub achieved: f64,
    users: i64,
    created: u64,
    delivered: u64,
    p50_ms: f64,
    p90_ms: f64,
    pub p99_ms: f64,
    max_ms: f64,
}

impl LatencyFigures {
    pub fn lost(&self) -> u64 {
        self.created.saturating_sub(self.delivered)
    }
}

impl std::fmt::Display for LatencyFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "latency: transport={} rate={}/s achieved={:.0}/s users={} created={} delivered={} lost={} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
            self.transport, self.rate, self.achieved, self.users, self.created, self.delivered, self.lost(),
            self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms
        )
    }
}

/// What the socket readers share: the delivery latencies (µs since `origin`) and their count.
struct Deliveries {
    origin: Instant,
    latency_us: RefCell<Histogram<u64>>,
    received: RefCell<u64>,
}

pub async fn run(base: &str, ws_bases: &[String], config: &Config, load: Load) -> Result<LatencyFigures, BenchError> {
    let Load { rate, users, transport, .. } = load;
    let deliveries = Rc::new(Deliveries {
        origin: Instant::now(),
        latency_us: RefCell::new(latency_histogram()?),
        received: RefCell::new(0),
    });
    let client = unlimited_client();
    let readers = match transport {
        Transport::Ws => read_sockets(&client, ws_bases, config, users, &deliveries).await?,
        Transport::Sse => read_streams(ws_bases, config, users, &deliveries).await?,
    };
    let staff = staff_token(config)?;
    let start = Instant::now();
    let created = send_creates(&client, base, &staff, load, deliveries.origin).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while *deliveries.received.borrow() < created && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let achieved = created as f64 / start.elapsed().as_secs_f64();
    for reader in readers {
        reader.abort();
    }
    let h = deliveries.latency_us.borrow();
    let delivered = *deliveries.received.borrow();
    Ok(LatencyFigures {
        transport,
        rate,
        achieved,
        users,
        created,
        delivered,
        p50_ms: ms_at(&h, 0.50),
        p90_ms: ms_at(&h, 0.90),
        p99_ms: ms_at(&h, 0.99),
        max_ms: max_ms(&h),
    })
}

/// Opens one socket per user and a task per socket recording each push's latency.
async fn read_sockets(
    client: &awc::Client,
    ws_bases: &[String],
    config: &Config,
    users: i64,
    deliveries: &Rc<Deliveries>,
) -> Result<Vec<actix_web::rt::task::JoinHandle<()>>, BenchError> {
    let mut readers = Vec::new();
    for user in 1..=users {
        let ws_base = &ws_bases[user as usize % ws_bases.len()];
        let mut framed = open_socket(client, &ws_url(ws_base, &token_for(config, user)?)).await?;
        let deliveries = deliveries.clone();
        readers.push(actix_web::rt::spawn(async move {
            while let Some(Ok(frame)) = framed.next().await {
                if let awc::ws::Frame::Text(bytes) = frame {
                    deliveries.record(&bytes);
                }
            }
        }));
    }
    Ok(readers)
}

/// Opens one SSE stream per user and a task per stream recording each push's latency.
async fn read_streams(
    bases: &[String],
    config: &Config,
    users: i64,
    deliveries: &Rc<Deliveries>,
) -> Result<Vec<actix_web::rt::task::JoinHandle<()>>, BenchError> {
    let mut readers = Vec::new();
    for user in 1..=users {
        let base = &bases[user as usize % bases.len()];
        let mut stream = open_stream(base, &token_for(config, user)?).await?;
        let deliveries = deliveries.clone();
        readers.push(actix_web::rt::spawn(async move {
            while let Ok(Some(event)) = stream.next_event().await {
                if event.event == "notification" {
                    deliveries.record(event.data.as_bytes());
                }
            }
        }));
    }
    Ok(readers)
}

impl Deliveries {
    /// Records the latency of a `notification` frame (its JSON), stamped by `send_creates`.
    fn record(&self, frame: &[u8]) {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(frame) else { return };
        if value["type"] != "notification" {
            return;
        }
        let sent_us = value["notification"]["data"]["t"].as_u64().unwrap_or(0);
        let now_us = self.origin.elapsed().as_micros() as u64;
        let _ = self.latency_us.borrow_mut().record(now_us.saturating_sub(sent_us).max(1));
        *self.received.borrow_mut() += 1;
    }
}

/// Sends `rate × duration` creates on schedule (open loop), each stamped with its send time
/// since `origin`; returns how many were created (201).
async fn send_creates(client: &awc::Client, base: &str, staff: &str, load: Load, origin: Instant) -> u64 {
    let url = format!("{base}/auth/notifications/create/");
    let total = load.rate * load.duration.as_secs();
    let interval = Duration::from_secs_f64(1.0 / load.rate as f64);
    let sent_ok = Rc::new(RefCell::new(0u64));
    let start = Instant::now();
    let mut inflight = Vec::new();
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            actix_web::rt::time::sleep(wait).await;
        }
        let user = (i as i64 % load.users) + 1;
        let (client, url, staff, sent_ok) = (client.clone(), url.clone(), staff.to_owned(), sent_ok.clone());
        inflight.push(actix_web::rt::spawn(async move {
            let t = origin.elapsed().as_micros() as u64;
            let body = serde_json::json!({"user_id": user, "title": "latency", "data": {"t": t}});
            if let Ok(mut res) = client.post(&url).bearer_auth(&staff).send_json(&body).await {
                // Read to the end, or the pool closes the connection instead of reusing it
                // (a new TCP connection per create loads both ends).
                let read = res.body().await.is_ok();
                if read && res.status().as_u16() == 201 {
                    *sent_ok.borrow_mut() += 1;
                }
            }
        }));
    }
    for task in inflight {
        let _ = task.await;
    }
    let created = *sent_ok.borrow();
    created
}
