//! One node's database cut: that node answers 503, the other keeps serving, both recover.

use super::{CREATE, LIST, SETTLE};
use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[actix_web::test]
async fn database_cut_on_a_cluster_node_answers_503_and_recovers() {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let (proxy, via_proxy) = db_proxy(&db.url);
    let a = TestApp::spawn_on(
        DbGuard::None,
        &via_proxy,
        &[("REDIS_URL", redis_url.as_str()), ("HERALD_DB_TIMEOUT_MS", "500")],
    )
    .await;
    let b = TestApp::spawn_on(DbGuard::None, &db.url, &[("REDIS_URL", redis_url.as_str())]).await;
    wait_ready(&a).await;
    wait_ready(&b).await;
    let user = 5;
    let me = token(user);
    let (on_a, _) = WsClient::open(&a, &me).await;
    let (on_b, _) = WsClient::open(&b, &me).await;
    wait_subscribed(&redis, user, 2).await;
    let (seen_a, task_a) = record(on_a);
    let (seen_b, task_b) = record(on_b);
    let mut acknowledged = Vec::new();

    for node in [&a, &b] {
        acknowledged.push(id_of(&node.create_for_self(user, "before the cut").await));
    }

    acknowledged.extend(during_the_cut(&proxy, &a, &b, user, &seen_a).await);

    proxy.restore();
    let restored = Instant::now();
    let recovered = poll_every(Duration::from_millis(100), WAIT, async || {
        let (status, body) = a.post(CREATE, &me, json!({"title": "on A after the cut"})).await;
        if status == StatusCode::CREATED {
            return Ok(id_of(&body["notification"]));
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        Err(body)
    })
    .await;
    acknowledged.push(recovered.unwrap_or_else(|last| panic!("A did not recover within {WAIT:?}: {last}")));
    let recovered_after = restored.elapsed();
    acknowledged.push(id_of(&b.create_for_self(user, "on B after the cut").await));
    wait_ready(&a).await;

    let (status, list) = b.get(&format!("{LIST}?limit=100"), &me).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut stored: Vec<i64> = list["notifications"].as_array().expect("notifications").iter().map(id_of).collect();
    stored.sort_unstable();
    assert_eq!(stored, acknowledged, "exactly the acknowledged creates are stored");

    // (Incomplete sockets are reported below, with what they got.) The quiet spell is the
    // check: a duplicate arriving late would show in it.
    settle_after(WAIT, SETTLE, || {
        [&seen_a, &seen_b].iter().all(|seen| {
            let got: Vec<i64> = seen.borrow().ids.iter().map(|(id, _)| *id).collect();
            stored.iter().all(|id| got.contains(id))
        })
    })
    .await;
    task_a.abort();
    task_b.abort();
    println!("database cut on A: A created again {recovered_after:?} after the restore");
    for (name, seen) in [("A", &seen_a), ("B", &seen_b)] {
        let seen = seen.borrow();
        assert!(seen.ended.is_none(), "the socket on {name} ended: {:?}", seen.ended);
        let got: Vec<i64> = seen.ids.iter().map(|(id, _)| *id).collect();
        if let Some(problem) = stream_problems(&got, &stored) {
            panic!("socket on {name}: {problem}");
        }
    }
    drop((a, b, proxy, redis, db));
}

/// With A's database cut: A answers 503 fast, B keeps creating, and A's socket still gets B's
/// creates; A's readiness names the database. Returns B's creates.
async fn during_the_cut(proxy: &Proxy, a: &TestApp, b: &TestApp, user: i64, seen_a: &Rc<RefCell<Seen>>) -> Vec<i64> {
    let me = token(user);
    proxy.cut();
    for attempt in 0..3 {
        let started = Instant::now();
        let (status, body) = a.post(CREATE, &me, json!({"title": format!("on A during the cut {attempt}")})).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        assert!(started.elapsed() < Duration::from_secs(5), "503 comes fast, not after a hang");
    }
    let mut during_cut = Vec::new();
    for attempt in 0..3 {
        let (status, body) = b.post(CREATE, &me, json!({"title": format!("on B during the cut {attempt}")})).await;
        assert_eq!(status, StatusCode::CREATED, "B has its own database connection: {body}");
        during_cut.push(id_of(&body["notification"]));
    }
    // Live pushes need no database on A: the socket there gets B's creates during the cut.
    wait_for("the socket on A getting B's creates during the cut", WAIT, async || {
        let got: Vec<i64> = seen_a.borrow().ids.iter().map(|(id, _)| *id).collect();
        if during_cut.iter().all(|id| got.contains(id)) {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    let ready = wait_readyz(a, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(ready["checks"]["database"].as_str().unwrap_or_default().starts_with("unavailable"), "{ready}");
    during_cut
}
