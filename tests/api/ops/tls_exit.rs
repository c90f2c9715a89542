//! A loaded node whose PostgreSQL connections use TLS exits 0 when stopped, every time: OpenSSL's
//! cleanup at exit once freed TLS state under pool threads still using it ("double free or
//! corruption", seen twice in production).

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use diesel::prelude::*;
use serde_json::json;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const STOPS: usize = 20;
/// Concurrent clients of each node: unkeyed creates (the group-commit writer's connection),
/// keyed creates and lists (pooled connections).
const CLIENTS: usize = 8;
/// Requests answered before the stop, so every kind of connection is open and busy.
const SERVED_BEFORE_STOP: usize = 40;

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    ssl: String,
}

/// The test database's URL over TLS (`sslmode=require`); the test server must have `ssl = on`
/// (Debian's and .ci/run's default).
fn tls_url(db: &TestDb) -> String {
    let ssl = diesel::sql_query("SHOW ssl").get_result::<Setting>(&mut db.connect()).expect("SHOW ssl").ssl;
    assert_eq!(ssl, "on", "this test needs TLS on the PostgreSQL of HERALD_TEST_DATABASE_URL (`ssl = on`)");
    format!("{}?sslmode=require", db.url)
}

/// One client: a create without a key, a keyed create, a list, again, until `stop`.
async fn client(base: String, me: usize, stop: Arc<AtomicBool>, served: Arc<AtomicUsize>) {
    let http = awc::Client::builder().timeout(Duration::from_secs(5)).finish();
    let token = token(me as i64 + 1);
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let body = json!({ "title": format!("load {n}") });
        let answer = match n % 3 {
            0 => request(&http, Method::POST, &format!("{base}/auth/notifications/create/"), Some(&token), Some(body))
                .await
                .map(|(status, _)| status),
            1 => http
                .post(format!("{base}/auth/notifications/create/"))
                .bearer_auth(&token)
                .insert_header(("Idempotency-Key", format!("k-{me}-{n}")))
                .send_json(&body)
                .await
                .map(|res| res.status())
                .map_err(|e| e.to_string()),
            _ => request(&http, Method::GET, &format!("{base}/auth/notifications/?limit=5"), Some(&token), None)
                .await
                .map(|(status, _)| status),
        };
        match answer {
            Ok(StatusCode::OK | StatusCode::CREATED) => {
                served.fetch_add(1, Ordering::SeqCst);
            }
            // Stopping: refused, reset, 503.
            _ => actix_web::rt::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

#[actix_web::test]
async fn a_loaded_node_on_postgres_over_tls_exits_0_each_of_20_stops() {
    let db = TestDb::new();
    let url = tls_url(&db);
    let started = Instant::now();
    for round in 1..=STOPS {
        let mut node = HeraldProcess::start(
            &[],
            &[
                ("DATABASE_URL", url.as_str()),
                ("JWT_SECRET", SECRET),
                ("HERALD_BIND", "127.0.0.1:0"),
                ("HERALD_WORKERS", "2"),
                ("HERALD_DB_POOL_SIZE", "6"),
                ("HERALD_SHUTDOWN_TIMEOUT_SECS", "2"),
                ("HERALD_RATE_LIMIT_PER_SECOND", "100000"),
                ("HERALD_RATE_LIMIT_BURST", "100000"),
                ("RUST_LOG", "warn"),
            ],
        );
        node.wait_listening();
        let (stop, served) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|me| actix_web::rt::spawn(client(node.base_url(), me, stop.clone(), served.clone())))
            .collect();
        wait_until("the node serves its clients", WAIT, async || served.load(Ordering::SeqCst) >= SERVED_BEFORE_STOP)
            .await;

        let pid = node.pid().to_string();
        let signalled = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(signalled.success(), "kill -TERM {pid}");
        // Polled without blocking the runtime: the clients keep the node busy while it stops.
        let exit = poll(PROCESS_WAIT, async || node.child.try_wait().expect("poll the node").ok_or(()))
            .await
            .unwrap_or_else(|()| panic!("round {round}: the node did not exit within {PROCESS_WAIT:?}"));
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            let _ = c.await;
        }
        assert!(
            exit.success(),
            "round {round}: exit status 0 after SIGTERM under load over TLS, got {exit}; stderr:\n{}",
            node.stderr()
        );
    }
    println!("{STOPS} loaded nodes over TLS stopped, each exited 0, in {:?}", started.elapsed());
}
