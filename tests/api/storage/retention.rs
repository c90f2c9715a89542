//! Retention: `herald prune --older-than … [--read-only]` deletes old notifications in batches
//! and keeps every unread counter exact.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::json;

fn backdate(database_url: &str, ids: &[i64]) {
    let list = ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",");
    let sql = match database_url.strip_prefix("sqlite://") {
        Some(_) => format!("UPDATE notifications SET created_at = datetime('now', '-100 days') WHERE id IN ({list})"),
        None => format!("UPDATE notifications SET created_at = now() - interval '100 days' WHERE id IN ({list})"),
    };
    match database_url.strip_prefix("sqlite://") {
        Some(path) => diesel::SqliteConnection::establish(path).expect("sqlite").batch_execute(&sql).expect("backdate"),
        None => diesel::PgConnection::establish(database_url).expect("pg").batch_execute(&sql).expect("backdate"),
    }
}

/// `herald prune <args>`: its first line (notifications; the second is about idempotency keys).
fn prune(database_url: &str, args: &[&str]) -> String {
    let mut all = vec!["prune"];
    all.extend_from_slice(args);
    let output = run_herald(&std::env::temp_dir(), &all, &[("DATABASE_URL", database_url), ("RUST_LOG", "warn")]);
    assert!(output.status.success(), "prune failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().next().unwrap_or_default().to_owned()
}

async fn ids_and_unread(app: &TestApp, user: i64) -> (Vec<i64>, i64) {
    let (_, list) = app.get("/auth/notifications/?limit=200", &token(user)).await;
    let ids = list["notifications"].as_array().expect("list").iter().map(|n| n["id"].as_i64().expect("id")).collect();
    let (_, count) = app.get("/auth/notifications/unread-count/", &token(user)).await;
    let (_, unread) = app.get("/auth/notifications/?unread=true&limit=200", &token(user)).await;
    let unread_count = count["unread_count"].as_i64().expect("count");
    assert_eq!(
        unread["notifications"].as_array().expect("list").len() as i64,
        unread_count,
        "counter matches the rows"
    );
    (ids, unread_count)
}

async fn prune_keeps_counters_exact(backend: Backend) {
    let (guard, url) = DbGuard::new(backend);
    let app = TestApp::spawn_on(guard, &url, &[]).await;
    let mut mine = Vec::new();
    for i in 0..6 {
        mine.push(app.create_for_self(1, &format!("n{i}")).await["id"].as_i64().expect("id"));
    }
    let theirs = [
        app.create_for_self(2, "a").await["id"].as_i64().expect("id"),
        app.create_for_self(2, "b").await["id"].as_i64().expect("id"),
    ];
    for id in &mine[..2] {
        app.post_empty(&format!("/auth/notifications/{id}/read/"), &token(1)).await;
    }
    backdate(&url, &[mine[0], mine[1], mine[2], mine[3], theirs[0]]);

    assert_eq!(prune(&url, &["--older-than", "90d", "--read-only"]), "deleted 2 notification(s)");
    assert_eq!(ids_and_unread(&app, 1).await, (vec![mine[5], mine[4], mine[3], mine[2]], 4));
    assert_eq!(prune(&url, &["--older-than", "90d"]), "deleted 3 notification(s)");
    assert_eq!(ids_and_unread(&app, 1).await, (vec![mine[5], mine[4]], 2));
    assert_eq!(ids_and_unread(&app, 2).await, (vec![theirs[1]], 1));
    assert_eq!(prune(&url, &["--older-than", "90d"]), "deleted 0 notification(s)");
}

#[actix_web::test]
async fn prune_deletes_old_notifications_and_keeps_unread_counters_exact_on_postgres() {
    prune_keeps_counters_exact(Backend::Postgres).await;
}

#[actix_web::test]
async fn prune_deletes_old_notifications_and_keeps_unread_counters_exact_on_sqlite() {
    prune_keeps_counters_exact(Backend::Sqlite).await;
}

/// Admin audit records are kept as long as notifications: `prune` deletes the older ones.
async fn prune_deletes_old_audit_records(backend: Backend) {
    let (guard, url) = DbGuard::new(backend);
    let app = TestApp::spawn_on(guard, &url, &[]).await;
    let old = app.create_for_self(1, "old").await["id"].as_i64().expect("id");
    let new = app.create_for_self(1, "new").await["id"].as_i64().expect("id");
    for id in [old, new] {
        let (status, _) = app.post_empty(&format!("/admin/api/notifications/{id}/read/"), &staff_token(9)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let sql = match url.strip_prefix("sqlite://") {
        Some(_) => {
            format!("UPDATE admin_audit SET created_at = datetime('now', '-100 days') WHERE target_ids = '[{old}]'")
        }
        None => format!("UPDATE admin_audit SET created_at = now() - interval '100 days' WHERE target_ids = '[{old}]'"),
    };
    match url.strip_prefix("sqlite://") {
        Some(path) => diesel::SqliteConnection::establish(path).expect("sqlite").batch_execute(&sql).expect("backdate"),
        None => diesel::PgConnection::establish(&url).expect("pg").batch_execute(&sql).expect("backdate"),
    }
    let output = run_herald(&std::env::temp_dir(), &["prune", "--older-than", "90d"], &[("DATABASE_URL", &url)]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("deleted 1 admin audit record(s)"), "{printed}");
    let (_, audit) = app.get("/admin/api/audit/", &staff_token(9)).await;
    let left: Vec<&serde_json::Value> =
        audit["records"].as_array().expect("records").iter().map(|r| &r["target_ids"]).collect();
    assert_eq!(left, [&json!([new])], "{audit}");
}

#[actix_web::test]
async fn prune_deletes_old_admin_audit_records_on_postgres() {
    prune_deletes_old_audit_records(Backend::Postgres).await;
}

#[actix_web::test]
async fn prune_deletes_old_admin_audit_records_on_sqlite() {
    prune_deletes_old_audit_records(Backend::Sqlite).await;
}

/// Retention publishes nothing: it advances each affected user's stream, and the position check
/// of the node holding their sockets repairs them, ending in `resync` (the tab fetches its list).
#[actix_web::test]
async fn retention_makes_open_sockets_fetch_their_list_again() {
    let (guard, url) = DbGuard::new(Backend::Postgres);
    let app = TestApp::spawn_on(guard, &url, &[]).await;
    let old = create_id(&app, 3, "old").await;
    let (mut ws, hello) = WsClient::open(&app, &token(3)).await;
    assert_eq!(hello["unread_count"], 1);
    backdate(&url, &[old]);
    assert_eq!(prune(&url, &["--older-than", "90d"]), "deleted 1 notification(s)");
    let resync = ws.next_of_type("resync").await;
    assert_eq!(resync, serde_json::json!({"type": "resync", "unread_count": 0, "unseen_count": 0}));
    assert_eq!(ws.next_of_type("unread_count").await["unread_count"], 0);
    assert_eq!(ids_and_unread(&app, 3).await, (vec![], 0), "what the tab fetches then");
}

#[actix_web::test]
async fn expired_idempotency_keys_are_pruned_without_retention_configured() {
    let db = TestDb::new();
    let first = TestApp::spawn_on(DbGuard::None, &db.url, &[]).await;
    let (status, _, _) = first
        .raw(
            Method::POST,
            "/auth/notifications/create/",
            &[
                ("Authorization", &format!("Bearer {}", token(1))),
                ("Content-Type", "application/json"),
                ("Idempotency-Key", "old-key"),
            ],
            json!({"title": "once"}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut conn = db.connect();
    conn.batch_execute("UPDATE idempotency_keys SET created_at = now() - interval '2 days'").expect("backdate");
    let count = |conn: &mut PgConnection| -> i64 {
        diesel::sql_query("SELECT count(*) AS n FROM idempotency_keys").get_result::<Count>(conn).expect("count").n
    };
    assert_eq!(count(&mut conn), 1);
    // A node starting without HERALD_RETENTION_DAYS prunes at start, then hourly.
    let _second = TestApp::spawn_on(DbGuard::None, &db.url, &[]).await;
    wait_until("the expired key pruned", WAIT, async || count(&mut conn) == 0).await;
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
