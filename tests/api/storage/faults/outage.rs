//! Ready means a create succeeds: after PostgreSQL refused connections for a while and
//! terminated every backend (the group-commit writer's own connection included), both nodes'
//! `/readyz` turn 200 only once the first create on each is stored.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde_json::json;
use std::time::Duration;

/// How long the database refuses connections: longer than a readiness probe's wait.
const OUTAGE: Duration = Duration::from_secs(3);

fn admin_sql(sql: &str) {
    PgConnection::establish(&admin_url()).expect("admin connection").batch_execute(sql).expect(sql);
}

async fn readyz(node: &TestApp) -> StatusCode {
    node.call(Method::GET, "/readyz", None, None).await.0
}

#[actix_web::test]
async fn after_an_outage_that_terminated_every_backend_the_first_create_on_each_ready_node_is_stored() {
    let db = TestDb::new();
    let nodes = ready_nodes(2, &db, &[]).await;
    for (i, node) in nodes.iter().enumerate() {
        // Every way a create takes is warm: the writer's connection and pooled ones.
        node.create_for_self(1, &format!("before {i}")).await;
        let (status, _) = node.get("/auth/notifications/", &token(1)).await;
        assert_eq!(status, StatusCode::OK);
    }

    admin_sql(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", db.name));
    admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name
    ));
    for node in &nodes {
        wait_until("/readyz turns 503 while the database refuses", WAIT, async || {
            readyz(node).await == StatusCode::SERVICE_UNAVAILABLE
        })
        .await;
    }
    actix_web::rt::time::sleep(OUTAGE).await;
    admin_sql(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", db.name));
    for node in &nodes {
        wait_until("/readyz turns 200 once the database is back", WAIT, async || readyz(node).await == StatusCode::OK)
            .await;
    }

    for (i, node) in nodes.iter().enumerate() {
        let (status, body) =
            node.post("/auth/notifications/create/", &token(2), json!({ "title": format!("after {i}") })).await;
        assert_eq!(status, StatusCode::CREATED, "the first create on ready node {i}: {body}");
    }
    // The pool's connections that died idle are replaced too: a keyed create and a list.
    for (i, node) in nodes.iter().enumerate() {
        let (status, _, body) = node
            .raw(
                Method::POST,
                "/auth/notifications/create/",
                &[
                    ("Authorization", &format!("Bearer {}", token(2))),
                    ("Content-Type", "application/json"),
                    ("Idempotency-Key", &format!("after-outage-{i}")),
                ],
                json!({ "title": format!("keyed {i}") }).to_string().into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "a keyed create on node {i}: {body}");
        let (status, list) = node.get("/auth/notifications/?limit=50", &token(2)).await;
        assert_eq!(status, StatusCode::OK, "a list on node {i}: {list}");
    }
}
