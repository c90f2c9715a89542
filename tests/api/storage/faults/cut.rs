//! The database cut mid-traffic: 503, nothing acknowledged lost, recovery when it returns.

use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

#[actix_web::test]
async fn database_cut_answers_503_then_recovers_without_losing_acknowledged_writes() {
    let (proxy, app) = node_behind_db_proxy(&[("HERALD_DB_TIMEOUT_MS", "500")]).await;
    let me = token(3);
    let mut acknowledged = Vec::new();

    let (status, body) = app.post("/auth/notifications/create/", &me, json!({"title": "before the cut"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    acknowledged.push(body["notification"]["id"].as_i64().expect("id"));

    proxy.cut();
    for attempt in 0..3 {
        let started = Instant::now();
        let (status, body) =
            app.post("/auth/notifications/create/", &me, json!({"title": format!("during the cut {attempt}")})).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "unavailable");
        assert!(!body.to_string().contains("5432"), "no internals leak: {body}");
        assert!(started.elapsed() < Duration::from_secs(5), "503 comes fast, not after a hang");
    }
    let (status, body) = app.get("/auth/notifications/", &me).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let ready = wait_readyz(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(ready["checks"]["database"].as_str().expect("database check").starts_with("unavailable"), "{ready}");
    let (status, _) = app.call(awc::http::Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "the process itself is alive");

    proxy.restore();
    let recovered = poll_every(Duration::from_millis(100), WAIT, async || {
        let (status, body) = app.post("/auth/notifications/create/", &me, json!({"title": "after the cut"})).await;
        if status == StatusCode::CREATED {
            return Ok(body["notification"]["id"].as_i64().expect("id"));
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        Err(body)
    })
    .await;
    acknowledged.push(recovered.unwrap_or_else(|last| panic!("node did not recover within {WAIT:?}: {last}")));
    wait_readyz(&app, StatusCode::OK).await;

    let (status, list) = app.get("/auth/notifications/", &me).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<i64> =
        list["notifications"].as_array().expect("list").iter().map(|n| n["id"].as_i64().expect("id")).rev().collect();
    assert_eq!(ids, acknowledged, "exactly the acknowledged creates are stored");
    assert_eq!(list["unread_count"], 2);
}
