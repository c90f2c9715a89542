//! Kept counts (issue 25 point 3): a list's `total` and `unread_count` come from each user's
//! inbox row, never a `COUNT(*)` over the inbox, so every path that inserts or deletes
//! notifications (creates one by one and by group commit, broadcast, delete, retention, the
//! storage cap's prune) keeps them exact; and the migration fills them from existing rows.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::json;
use std::path::Path;

/// Per user: `(user, kept total, kept unread, counted total, counted unread)`.
type Compared = Vec<(i64, i64, i64, i64, i64)>;

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    user_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    total_count: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    unread_count: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    counted_total: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    counted_unread: i64,
}

const COMPARE_SQL: &str = "SELECT s.user_id, s.total_count, s.unread_count, \
     (SELECT count(*) FROM notifications n WHERE n.user_id = s.user_id) AS counted_total, \
     (SELECT count(*) FROM notifications n WHERE n.user_id = s.user_id AND NOT n.is_read) AS counted_unread \
     FROM inbox_state s ORDER BY s.user_id";

/// Every inbox row's kept counts next to the rows counted, read straight from the database.
fn compare(database_url: &str) -> Compared {
    let rows: Vec<Row> = match database_url.strip_prefix("sqlite://") {
        Some(path) => diesel::sql_query(COMPARE_SQL).load(&mut SqliteConnection::establish(path).expect("sqlite")),
        None => diesel::sql_query(COMPARE_SQL).load(&mut PgConnection::establish(database_url).expect("pg")),
    }
    .expect("compare the kept counts");
    rows.into_iter().map(|r| (r.user_id, r.total_count, r.unread_count, r.counted_total, r.counted_unread)).collect()
}

fn assert_exact(database_url: &str, after: &str) {
    let compared = compare(database_url);
    assert!(!compared.is_empty(), "{after}: no inbox rows");
    for (user, total, unread, counted_total, counted_unread) in compared {
        assert_eq!((total, unread), (counted_total, counted_unread), "user {user} after {after}: kept vs counted");
    }
}

fn execute(database_url: &str, sql: &str) {
    match database_url.strip_prefix("sqlite://") {
        Some(path) => SqliteConnection::establish(path).expect("sqlite").batch_execute(sql),
        None => PgConnection::establish(database_url).expect("pg").batch_execute(sql),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn read(app: &TestApp, user: i64, id: i64) {
    let (status, body) = app.post_empty(&format!("/auth/notifications/{id}/read/"), &token(user)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn counts_stay_exact(backend: Backend) {
    let (guard, url) = DbGuard::new(backend);
    let app = TestApp::spawn_on(guard, &url, &[("HERALD_MAX_STORED_PER_USER", "6")]).await;
    let staff = staff_token(9);
    // Creates: one by one, concurrently (group commit), with a key, over the WebSocket.
    let mut mine = Vec::new();
    for i in 0..3 {
        mine.push(create_id(&app, 1, &format!("one {i}")).await);
    }
    let burst = (0..12).map(|i| {
        let (app, staff) = (&app, &staff);
        let kind = if i % 3 == 0 { "meeting" } else { "general" };
        async move {
            let body = json!({"user_id": 1 + i % 3, "title": format!("burst {i}"), "type": kind});
            app.post("/auth/notifications/create/", staff, body).await
        }
    });
    for (status, body) in futures_util::future::join_all(burst).await {
        assert!(matches!(status, StatusCode::CREATED | StatusCode::TOO_MANY_REQUESTS), "{status} {body}");
    }
    assert_exact(&url, "creates");
    let (status, _, _) = app
        .raw(
            Method::POST,
            "/auth/notifications/create/",
            &[
                ("Authorization", &format!("Bearer {}", token(2))),
                ("Content-Type", "application/json"),
                ("Idempotency-Key", "k"),
            ],
            json!({"title": "keyed"}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (mut ws, _) = WsClient::open(&app, &token(3)).await;
    ws.send_json(json!({"type": "send_notification", "user_id": 3, "title": "over ws"})).await;
    assert_eq!(ws.next_of_type("notification_sent").await["type"], "notification_sent");

    // Reads, a delete of a read one and of an unread one, mark-all-read, a broadcast.
    read(&app, 1, mine[0]).await;
    read(&app, 1, mine[1]).await;
    let (status, _) = app.delete(&format!("/auth/notifications/{}/delete/", mine[1]), &token(1)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.delete(&format!("/auth/notifications/{}/delete/", mine[2]), &token(1)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.post_empty("/auth/notifications/mark-all-read/", &token(2)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) =
        app.post("/auth/notifications/broadcast/", &staff, json!({"user_ids": [1, 2, 3, 4], "title": "all"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_exact(&url, "reads, deletes and a broadcast");

    // The cap's prune: user 2's inbox is full of read ones; more creates make room.
    for i in 0..4 {
        let (status, body) =
            app.post("/auth/notifications/create/", &staff, json!({"user_id": 2, "title": format!("more {i}")})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    assert_exact(&url, "the cap's prune");

    // Retention.
    execute(&url, "UPDATE notifications SET created_at = '2000-01-01 00:00:00' WHERE user_id IN (1, 3)");
    let output = run_herald(
        &std::env::temp_dir(),
        &["prune", "--older-than", "90d"],
        &[("DATABASE_URL", &url), ("RUST_LOG", "warn")],
    );
    assert!(output.status.success(), "prune: {}", String::from_utf8_lossy(&output.stderr));
    assert_exact(&url, "retention");

    // And what lists say is what is stored.
    for user in 1..=4 {
        let counted = compare(&url).into_iter().find(|c| c.0 == user).map_or((0, 0), |c| (c.3, c.4));
        let all = list(&app, user, "?limit=1").await;
        let unread = list(&app, user, "?unread=true&limit=1").await;
        assert_eq!(
            (all["total"].as_i64(), unread["total"].as_i64()),
            (Some(counted.0), Some(counted.1)),
            "user {user}"
        );
        let general = list(&app, user, "?type=general&limit=200").await;
        assert_eq!(general["total"].as_i64(), Some(general["notifications"].as_array().expect("list").len() as i64));
    }
}

#[actix_web::test]
async fn kept_counts_equal_count_star_after_creates_deletes_broadcast_cap_and_retention_on_postgres() {
    counts_stay_exact(Backend::Postgres).await;
}

#[actix_web::test]
async fn kept_counts_equal_count_star_after_creates_deletes_broadcast_cap_and_retention_on_sqlite() {
    counts_stay_exact(Backend::Sqlite).await;
}

/// Rows written before the counts existed: an inbox row that says nothing of them, and one
/// missing altogether.
const OLD_ROWS_SQL: &str = "\
    INSERT INTO notifications (user_id, notification_type, title, message, data, is_read, realtime, created_at) VALUES \
    (1, 'general', 'a', '', '{}', FALSE, TRUE, '2026-01-01 00:00:00'), \
    (1, 'general', 'b', '', '{}', TRUE, TRUE, '2026-01-01 00:00:00'), \
    (1, 'meeting', 'c', '', '{}', TRUE, TRUE, '2026-01-01 00:00:00'), \
    (2, 'general', 'd', '', '{}', FALSE, TRUE, '2026-01-01 00:00:00'); \
    INSERT INTO inbox_state (user_id, unread_count, last_seq) VALUES (1, 1, 5);";

/// A database at the first migration, with `OLD_ROWS_SQL`, then `herald migrate`.
fn migrate_old_rows(database_url: &str, backend: &str) {
    let first = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend)
        .join("2026-11-25-000001_create_notifications/up.sql");
    let schema = std::fs::read_to_string(first).expect("the first migration");
    execute(database_url, &schema);
    execute(
        database_url,
        "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
         run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP); \
         INSERT INTO __diesel_schema_migrations (version) VALUES ('20261125000001');",
    );
    execute(database_url, OLD_ROWS_SQL);
    let output =
        run_herald(&std::env::temp_dir(), &["migrate"], &[("DATABASE_URL", database_url), ("RUST_LOG", "warn")]);
    assert!(output.status.success(), "migrate: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(compare(database_url), vec![(1, 3, 1, 3, 1), (2, 1, 1, 1, 1)]);
}

/// An empty PostgreSQL database (no migration run), dropped on Drop; named like the harness's
/// (`herald_test_<pid>_…`), so a crashed run's leftover is dropped later.
struct EmptyDb(String);

impl EmptyDb {
    fn new() -> EmptyDb {
        let name = format!("herald_test_{}_counts_migration", std::process::id());
        let mut admin = PgConnection::establish(&admin_url()).expect("admin");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drop a leftover");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create");
        EmptyDb(name)
    }
}

impl Drop for EmptyDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&admin_url()) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
        }
    }
}

#[test]
fn the_migration_fills_the_counts_from_existing_rows_on_postgres() {
    let db = EmptyDb::new();
    migrate_old_rows(&url_for_database(&db.0), "postgres");
}

#[test]
fn the_migration_fills_the_counts_from_existing_rows_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    migrate_old_rows(&format!("sqlite://{}", dir.path().join("herald.db").display()), "sqlite");
}
