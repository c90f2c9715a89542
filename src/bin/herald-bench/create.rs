//! `create`: closed-loop REST creates from N concurrent clients for a fixed time, each for a
//! random user among `--users`; prints creates/s and latency percentiles.

use crate::client::staff_token;
use crate::error::BenchError;
use crate::histogram::{latency_histogram, max_ms, ms_at};
use hdrhistogram::Histogram;
use herald::config::Config;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

struct Tally {
    ok: u64,
    failed: u64,
    latency_us: Histogram<u64>,
}

pub async fn run(
    base: &str,
    config: &Config,
    clients: usize,
    duration: Duration,
    users: i64,
) -> Result<(), BenchError> {
    let token = staff_token(config)?;
    let url = format!("{base}/auth/notifications/create/");
    let tally = Rc::new(RefCell::new(Tally { ok: 0, failed: 0, latency_us: latency_histogram()? }));
    let connector = awc::Connector::new().limit(clients);
    let client = awc::Client::builder().connector(connector).timeout(Duration::from_secs(30)).finish();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(clients);
    for worker in 0..clients {
        let (client, url, token, tally) = (client.clone(), url.clone(), token.clone(), tally.clone());
        tasks.push(actix_web::rt::spawn(async move {
            let mut n: i64 = worker as i64;
            while Instant::now() < deadline {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let user = (n.rem_euclid(users)) + 1;
                let body = serde_json::json!({"user_id": user, "title": "bench", "message": "load", "type": "general"});
                let sent = Instant::now();
                let ok = match client.post(&url).bearer_auth(&token).send_json(&body).await {
                    Ok(mut res) => {
                        let _ = res.body().await;
                        res.status().as_u16() == 201
                    }
                    Err(_) => false,
                };
                let mut t = tally.borrow_mut();
                if ok {
                    t.ok += 1;
                    let _ = t.latency_us.record(sent.elapsed().as_micros() as u64);
                } else {
                    t.failed += 1;
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let t = tally.borrow();
    let h = &t.latency_us;
    println!(
        "create: clients={clients} duration={elapsed:.1}s ok={} failed={} rate={:.0}/s latency_ms p50={:.2} p99={:.2} max={:.2}",
        t.ok,
        t.failed,
        t.ok as f64 / elapsed,
        ms_at(h, 0.50),
        ms_at(h, 0.99),
        max_ms(h),
    );
    Ok(())
}
