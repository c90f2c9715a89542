//! `/readyz` and `/metrics` share one readiness probe per node, reused for a second
//! (`herald::http::ReadinessProbe`): however often they are called, at once or in a row, a node
//! pings PostgreSQL and Redis about once a second. Redis' own command counter is the witness:
//! each probe pings the database and then PINGs Redis through the command pool, so PINGs bound
//! the database pings too; `herald_readiness_probes_total` counts the probes themselves.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use futures_util::future::join_all;
use herald::readiness::READY_REUSED_FOR;
use std::time::{Duration, Instant};

/// Concurrent `/readyz` calls in the burst.
const BURST: usize = 200;

/// How long `/readyz` is called in a row.
const IN_A_ROW: Duration = Duration::from_secs(3);

/// PINGs Redis gets besides the probes' (the subscriber's keep-alive once a second, the
/// pool's checks of the connections it hands out), per second, with a wide margin. Without the
/// reuse each call costs at least one PING: the burst alone would be `BURST`.
const BACKGROUND_PINGS_PER_SECOND: u64 = 6;

/// `cmdstat_ping`'s call count on `redis` (every PING it answered).
fn pings(redis: &RedisServer) -> u64 {
    let stats = redis.command(&["INFO", "commandstats"]).expect("INFO commandstats");
    stats
        .lines()
        .find_map(|line| line.trim().strip_prefix("cmdstat_ping:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}

/// `herald_readiness_probes_total` of `node` (reading it may itself run a probe).
async fn probes(node: &TestApp) -> u64 {
    let text = node.metrics_text().await;
    text.lines()
        .find(|line| line.starts_with("herald_readiness_probes_total"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no herald_readiness_probes_total in:\n{text}"))
}

/// The most PINGs `seconds` of calls may cost: the probes (one a second, each a PING and the
/// pool's check of its connection) and the background, plus one of each for the edges.
fn ping_bound(seconds: f64) -> u64 {
    let seconds = seconds.ceil() as u64 + 1;
    seconds * (2 + BACKGROUND_PINGS_PER_SECOND)
}

#[actix_web::test]
async fn readyz_called_hundreds_of_times_at_once_or_in_a_row_probes_about_once_a_second() {
    let (_db, redis, nodes) = cluster(1, &[]).await;
    let node = &nodes[0];

    // A burst on a lapsed probe: the first caller probes, every other one waits for its result.
    let (probes_before, pings_before, window) = (probes(node).await, pings(&redis), Instant::now());
    actix_web::rt::time::sleep(READY_REUSED_FOR + Duration::from_millis(200)).await;
    let started = Instant::now();
    let answers = join_all((0..BURST).map(|_| node.call(Method::GET, "/readyz", None, None))).await;
    let took = started.elapsed();
    let (pinged, window) = (pings(&redis) - pings_before, window.elapsed());
    let probed = probes(node).await - probes_before;
    println!("readyz: {BURST} concurrent calls in {took:?}: {probed} probe(s), Redis answered {pinged} PING(s)");
    assert!(answers.iter().all(|(status, body)| *status == StatusCode::OK && body["status"] == "ok"), "{answers:?}");
    let bound = ping_bound(window.as_secs_f64());
    assert!(pinged <= bound, "{BURST} concurrent /readyz made Redis answer {pinged} PINGs (at most {bound})");
    // The burst's probe, and the closing scrape's when the burst outlasted the reuse.
    assert!(probed <= 2, "{BURST} concurrent /readyz ran {probed} probes");

    // In a row: one caller after another, as fast as the node answers.
    let (probes_before, pings_before) = (probes(node).await, pings(&redis));
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < IN_A_ROW && calls < 10_000 {
        let (status, body) = node.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        calls += 1;
    }
    let took = started.elapsed();
    let pinged = pings(&redis) - pings_before;
    let probed = probes(node).await - probes_before;
    println!("readyz: {calls} calls in a row in {took:?}: {probed} probe(s), Redis answered {pinged} PING(s)");
    assert!(calls >= 100, "only {calls} calls in {took:?}: too few to show anything");
    let bound = ping_bound(took.as_secs_f64());
    assert!(pinged <= bound, "{calls} /readyz in a row made Redis answer {pinged} PINGs (at most {bound})");
    let probe_bound = took.as_secs_f64().ceil() as u64 + 2;
    assert!(probed <= probe_bound, "{calls} /readyz in {took:?} ran {probed} probes (at most {probe_bound})");
}

/// `/metrics` reuses `/readyz`'s probe, on the ops listener too: scraping both ports at once
/// probes once.
#[actix_web::test]
async fn metrics_and_readyz_on_the_ops_listener_share_the_probe() {
    let (db, redis) = (TestDb::new(), RedisServer::start());
    let redis_url = redis.url();
    let vars = [("REDIS_URL", redis_url.as_str()), ("HERALD_OPS_BIND", "127.0.0.1:0")];
    let node = &TestApp::spawn_on(DbGuard::None, &db.url, &vars).await;
    let ops = format!("http://127.0.0.1:{}", node.ops_port.expect("an ops listener"));
    let get = |path: &'static str| {
        let url = format!("{ops}{path}");
        let client = node.client.clone();
        async move {
            let mut res = client.get(url).send().await.expect("the ops listener answers");
            let body = res.body().limit(1 << 20).await.expect("body");
            (res.status(), String::from_utf8_lossy(&body).into_owned())
        }
    };
    wait_until("ready on the ops listener", WAIT, async || get("/readyz").await.0 == StatusCode::OK).await;
    actix_web::rt::time::sleep(READY_REUSED_FOR + Duration::from_millis(200)).await;
    let pings_before = pings(&redis);
    let calls = (0..50).map(|i| get(if i % 2 == 0 { "/readyz" } else { "/metrics" }));
    let answers = join_all(calls).await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK), "{answers:?}");
    let pinged = pings(&redis) - pings_before;
    let bound = ping_bound(READY_REUSED_FOR.as_secs_f64());
    assert!(pinged <= bound, "50 ops calls made Redis answer {pinged} PINGs (at most {bound})");
}
