//! The live cluster from the console: a user's open sockets on every node (who is behind each,
//! as the proxy forwarded it), "disconnect all" (close code 4003, audited, other users
//! untouched), and the nodes' overview; on the in-process broker, the one node alone. Redis
//! Cluster: `redis_cluster::steady_state`.

use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;

fn field_set(rows: &Value, field: &str) -> BTreeSet<String> {
    rows.as_array().expect("an array").iter().map(|row| row[field].as_str().unwrap_or("null").to_owned()).collect()
}

async fn open_as(node: &TestApp, user: i64, headers: &[(&str, &str)]) -> WsClient {
    let mut ws = WsClient::try_connect(&ws_url(node, &format!("?token={}", token(user))), headers)
        .await
        .expect("handshake accepted");
    assert_eq!(ws.next_json().await["type"], "connection_established");
    ws
}

#[actix_web::test]
async fn a_users_sockets_on_two_nodes_are_listed_and_disconnected_with_4003() {
    let (_db, _redis, nodes) = cluster(2, &[]).await;
    let admin = staff_token(42);
    let mut on_a = open_as(&nodes[0], 7, &[("User-Agent", "agent-a"), ("X-Real-IP", "203.0.113.9")]).await;
    let mut on_b =
        open_as(&nodes[1], 7, &[("User-Agent", "agent-b"), ("X-Forwarded-For", "198.51.100.7, 10.0.0.1")]).await;
    let mut bystander = open_as(&nodes[1], 8, &[]).await;

    let (status, listed) = nodes[0].get("/admin/api/users/7/sockets/", &admin).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["user_id"], 7);
    assert_eq!(field_set(&listed["sockets"], "instance").len(), 2, "one socket on each node: {listed}");
    assert_eq!(field_set(&listed["sockets"], "user_agent"), ["agent-a", "agent-b"].map(String::from).into());
    assert_eq!(field_set(&listed["sockets"], "client_addr"), ["198.51.100.7", "203.0.113.9"].map(String::from).into());
    assert!(listed["sockets"][0]["connected_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{listed}");
    assert_eq!(listed["nodes_answered"].as_array().map(Vec::len), Some(2), "{listed}");
    assert_eq!(listed["nodes_unanswered"], serde_json::json!([]));

    let (status, done) = nodes[1].post_empty("/admin/api/users/7/disconnect/", &admin).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!((done["disconnected"].as_i64(), done["nodes_answered"].as_array().map(Vec::len)), (Some(2), Some(2)));
    assert_eq!(on_a.expect_close().await.0, 4003);
    assert_eq!(on_b.expect_close().await.0, 4003);

    // Another user's socket on the same node is untouched and still gets its pushes.
    let id = create_id(&nodes[0], 8, "still here").await;
    assert_eq!(bystander.next_of_type("notification").await["notification"]["id"], id);
    // Gone from the list once the sessions ended.
    wait_until("user 7's sockets leave the hubs", WAIT, async || {
        let (_, listed) = nodes[0].get("/admin/api/users/7/sockets/", &admin).await;
        listed["sockets"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    let (_, audit) = nodes[0].get("/admin/api/audit/?limit=1", &admin).await;
    let record = &audit["records"][0];
    assert_eq!((record["action"].as_str(), record["target_user_id"].as_i64()), (Some("user.disconnect"), Some(7)));
    assert_eq!(record["detail"]["disconnected"], 2, "{audit}");
}

#[actix_web::test]
async fn the_cluster_overview_shows_every_node_and_forgets_one_that_stopped() {
    let (_db, _redis, nodes) = cluster(2, &[]).await;
    let admin = staff_token(42);
    let _socket = open_as(&nodes[1], 5, &[]).await;
    for n in 0..3 {
        create_id(&nodes[0], 5, &format!("n{n}")).await;
    }
    let (status, overview) = nodes[0].get("/admin/api/cluster/", &admin).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["broker"], "redis");
    let listed = overview["nodes"].as_array().expect("nodes");
    assert_eq!(listed.len(), 2, "{overview}");
    assert!(listed.iter().all(|n| n["answered"] == true && n["checks"]["database"] == "ok"), "{overview}");
    assert!(listed.iter().all(|n| n["checks"]["redis_subscriber"] == "ok"), "{overview}");
    assert_eq!(listed.iter().filter(|n| n["this_node"] == true).count(), 1, "{overview}");
    let sockets: Vec<i64> = listed.iter().map(|n| n["sockets"].as_i64().expect("sockets")).collect();
    assert_eq!(sockets.iter().sum::<i64>(), 1, "the one socket, on one node: {overview}");
    let creating = listed.iter().find(|n| n["this_node"] == true).expect("this node");
    assert!(creating["creates_per_second"].as_f64().is_some_and(|r| r > 0.0), "{overview}");
    let pushing = listed.iter().find(|n| n["sockets"] == 1).expect("the socket's node");
    assert!(pushing["pushes_per_second"].as_f64().is_some_and(|r| r > 0.0), "{overview}");
    assert!(pushing["delivery_p99_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{overview}");

    // A node that stops leaves the list at once (not after its heartbeat's lease).
    nodes[1].stop().await;
    let (status, overview) = nodes[0].get("/admin/api/cluster/", &admin).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["nodes"].as_array().map(Vec::len), Some(1), "{overview}");
    assert_eq!(overview["nodes"][0]["this_node"], true, "{overview}");
}

#[actix_web::test]
async fn a_single_node_without_redis_answers_for_itself() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = staff_token(1);
    let mut ws = open_as(&app, 3, &[("User-Agent", "solo")]).await;
    let (status, overview) = app.get("/admin/api/cluster/", &admin).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["broker"], "memory");
    assert_eq!(overview["nodes"].as_array().map(Vec::len), Some(1), "{overview}");
    assert_eq!(
        (overview["nodes"][0]["sockets"].as_i64(), overview["nodes"][0]["checks"]["broker"].as_str()),
        (Some(1), Some("ok"))
    );
    let (_, listed) = app.get("/admin/api/users/3/sockets/", &admin).await;
    assert_eq!(field_set(&listed["sockets"], "user_agent"), ["solo".to_owned()].into(), "{listed}");
    let (status, done) = app.post_empty("/admin/api/users/3/disconnect/", &admin).await;
    assert_eq!((status, done["disconnected"].as_i64()), (StatusCode::OK, Some(1)), "{done}");
    assert_eq!(ws.expect_close().await.0, 4003);
    // A user with no socket anywhere: an empty list, nothing disconnected.
    let (_, none) = app.post_empty("/admin/api/users/4/disconnect/", &admin).await;
    assert_eq!(none["disconnected"], 0, "{none}");
}
