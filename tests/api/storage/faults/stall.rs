//! A hung PostgreSQL (a proxy stops forwarding bytes): REST answers 503 within the node's
//! database bound, sockets keep answering `ping`, and everything recovers without a restart.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use herald::db::DbTimeouts;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The node's database settings in these tests: small, so a stall is noticed quickly.
const SETTINGS: &[(&str, &str)] =
    &[("HERALD_DB_TIMEOUT_MS", "500"), ("HERALD_DB_STATEMENT_TIMEOUT_MS", "1000"), ("HERALD_DB_POOL_SIZE", "4")];

/// Allowance over the bound for a noisy shared machine. A hang lasts the whole stall (well
/// over `bound() + SLACK`), so the assertions still catch one.
const SLACK: Duration = Duration::from_millis(2500);

/// `/readyz`'s own limit on its database probe.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest the node may wait for the database: pool wait + statement timeout + margin.
fn bound() -> Duration {
    DbTimeouts::from_config(&test_config("postgres://unused/db", SETTINGS)).bound()
}

/// Sends one request and returns its status, body and how long the answer took.
async fn timed(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> Answer {
    let started = Instant::now();
    let (status, body) = app.call(method, path, Some(token), body).await;
    (status, body, started.elapsed())
}

type Answer = (StatusCode, Value, Duration);

/// A create with an `Idempotency-Key` (stored directly, not through the group commit).
async fn keyed_create(app: &TestApp, token: &str, key: &str) -> Answer {
    let started = Instant::now();
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json"), ("Idempotency-Key", key)];
    let body = json!({"title": format!("keyed {key}")}).to_string().into_bytes();
    let (status, _, body) = app.raw(Method::POST, "/auth/notifications/create/", &headers, body).await;
    (status, body, started.elapsed())
}

/// Every kind of database call at once, more than there are connections: creates (batched and
/// keyed), a list and an unread count. Labelled answers.
async fn one_of_each(app: &TestApp, token: &str, wave: u32) -> Vec<(String, Answer)> {
    let creates = (0..6).map(|i| async move {
        let body = json!({"title": format!("wave {wave} create {i}")});
        (format!("create {i}"), timed(app, Method::POST, "/auth/notifications/create/", token, Some(body)).await)
    });
    let key = format!("wave-{wave}");
    let (creates, keyed, list, unread) = futures_util::join!(
        futures_util::future::join_all(creates),
        keyed_create(app, token, &key),
        timed(app, Method::GET, "/auth/notifications/", token, None),
        timed(app, Method::GET, "/auth/notifications/unread-count/", token, None),
    );
    let mut answers = creates;
    answers.extend([
        ("keyed create".to_owned(), keyed),
        ("list".to_owned(), list),
        ("unread count".to_owned(), unread),
    ]);
    answers.into_iter().map(|(what, answer)| (format!("wave {wave}: {what}"), answer)).collect()
}

fn assert_unavailable_within(what: &str, (status, body, took): &Answer, limit: Duration) {
    println!("stalled database: {what} answered {status} in {took:?}");
    assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert_eq!(body["error"]["code"], "unavailable", "{what}: {body}");
    assert!(*took < limit, "{what} took {took:?}, over {limit:?}: it hung");
}

/// The node's in-use database connections, from `/metrics`.
async fn connections_in_use(app: &TestApp) -> f64 {
    let text = app.metrics_text().await;
    text.lines()
        .find(|line| line.starts_with("herald_db_pool_connections") && line.contains("state=\"in_use\""))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no in_use sample in:\n{text}"))
}

/// Creates until one answers 201 (each attempt is itself bounded); returns the stored id and
/// how long recovery took.
async fn create_until_stored(app: &TestApp, me: &str, since: Instant) -> (i64, Duration) {
    let stored = poll_every(Duration::from_millis(100), WAIT, async || {
        let (status, body) = app.post("/auth/notifications/create/", me, json!({"title": "after the stall"})).await;
        if status == StatusCode::CREATED {
            return Ok(body["notification"]["id"].as_i64().expect("id"));
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        Err(body)
    })
    .await
    .unwrap_or_else(|last| panic!("the node did not recover within {WAIT:?} of the database: {last}"));
    (stored, since.elapsed())
}

#[actix_web::test]
async fn a_stalled_database_answers_503_within_the_bound_and_recovers() {
    let (proxy, app) = node_behind_db_proxy(SETTINGS).await;
    let me = token(3);
    let limit = bound() + SLACK;
    let mut acknowledged = vec![app.create_for_self(3, "before the stall").await["id"].as_i64().expect("id")];
    // Open several connections, so the stall catches some idle in the pool.
    let warm = (0..8).map(|_| app.get("/auth/notifications/", &me));
    assert!(futures_util::future::join_all(warm).await.iter().all(|(status, _)| *status == StatusCode::OK));

    proxy.stall();
    let stalled_at = Instant::now();
    // The first wave takes the idle connections and hangs on them; the second finds every
    // connection hung and waits only for the pool.
    for wave in 1..=2 {
        for (what, answer) in one_of_each(&app, &me, wave).await {
            assert_unavailable_within(&what, &answer, limit);
        }
        println!("stalled database: {} connection(s) hung after wave {wave}", connections_in_use(&app).await);
    }
    let ready = timed(&app, Method::GET, "/readyz", &me, None).await;
    println!("stalled database: readyz answered {} in {:?}: {}", ready.0, ready.2, ready.1);
    assert_eq!(ready.0, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.1);
    assert!(ready.2 < READINESS_TIMEOUT + SLACK, "readyz took {:?}", ready.2);
    let (status, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "the process itself is alive");

    proxy.resume();
    let resumed_at = Instant::now();
    println!("stalled database: stalled for {:?}", resumed_at - stalled_at);
    let (id, recovered_in) = create_until_stored(&app, &me, resumed_at).await;
    println!("stalled database: first 201 {recovered_in:?} after the database answered again");
    acknowledged.push(id);
    wait_readyz(&app, StatusCode::OK).await;

    // The threads that hung with their connections come back, and those connections go.
    wait_until("no connection in use after the stall", WAIT, async || connections_in_use(&app).await == 0.0).await;
    println!("stalled database: no connection in use {:?} after the stall", resumed_at.elapsed());

    // Exactly the acknowledged creates are stored: the stall began between statements, so
    // every write it caught was answered 503 before its COMMIT, and rolled back when the
    // database answered again. The unread counter agrees.
    let (status, list) = app.get("/auth/notifications/?limit=200", &me).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut ids: Vec<i64> =
        list["notifications"].as_array().expect("list").iter().map(|n| n["id"].as_i64().expect("id")).collect();
    ids.sort_unstable();
    assert_eq!(ids, acknowledged, "no create answered 503 was stored behind its caller's back");
    assert_eq!(list["unread_count"], ids.len(), "{list}");
}

#[actix_web::test]
async fn sockets_answer_ping_while_the_database_hangs() {
    let (proxy, app) = node_behind_db_proxy(SETTINGS).await;
    let (mut ws, _) = WsClient::open(&app, &token(5)).await;

    proxy.stall();
    let started = Instant::now();
    ws.send_json(json!({"type": "ping", "request_id": "alone"})).await;
    let pong = ws.next_json_within(SLACK).await.expect("pong while the database hangs");
    assert_eq!(pong, json!({"type": "pong", "request_id": "alone"}));
    println!("stalled database: a lone ping answered in {:?}", started.elapsed());

    // A frame that needs the database holds the session at most the bound; the ping queued
    // behind it is answered right after.
    let started = Instant::now();
    ws.send_json(json!({"type": "get_notifications", "request_id": "list"})).await;
    ws.send_json(json!({"type": "ping", "request_id": "behind"})).await;
    let failed = ws.next_json_within(bound() + SLACK).await.expect("an answer to get_notifications");
    assert_eq!(
        (&failed["type"], &failed["code"], &failed["request_id"]),
        (&json!("error"), &json!("unavailable"), &json!("list")),
        "{failed}"
    );
    let pong = ws.next_json_within(SLACK).await.expect("the ping behind it is answered");
    let took = started.elapsed();
    println!("stalled database: get_notifications failed and the ping behind it was answered in {took:?}");
    assert_eq!(pong, json!({"type": "pong", "request_id": "behind"}));
    assert!(took < bound() + SLACK, "ping behind a database frame took {took:?}");
    let (status, body, took) =
        timed(&app, Method::POST, "/auth/notifications/create/", &token(5), Some(json!({"title": "lost?"}))).await;
    assert_unavailable_within("create while a socket waits", &(status, body, took), bound() + SLACK);

    proxy.resume();
    let resumed_at = Instant::now();
    let (id, recovered_in) = create_until_stored(&app, &token(5), resumed_at).await;
    println!("stalled database: first 201 {recovered_in:?} after the database answered again");
    let pushed = ws.next_of_type("notification").await;
    let pushed = if pushed["notification"]["id"] == id { pushed } else { ws.next_of_type("notification").await };
    assert_eq!(pushed["notification"]["id"], id, "the same socket gets live pushes again: {pushed}");
    ws.send_json(json!({"type": "get_notifications", "request_id": "again"})).await;
    let page = ws.next_json().await;
    assert_eq!(page["request_id"], "again", "{page}");
    assert_ne!(page["type"], "error", "the socket reads the database again: {page}");
}
