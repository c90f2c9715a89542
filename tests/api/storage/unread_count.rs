//! The unread counter stays exact under concurrent reads and creates.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use futures_util::future::join_all;
use serde_json::{json, Value};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn sql_count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).expect("count query").n
}

/// REST's counter, the filter's COUNT(*), the stored counter and the rows themselves agree.
async fn assert_counts_exact(app: &TestApp, conn: &mut PgConnection, user: i64) -> i64 {
    let rest = unread_count(app, user).await;
    let rows =
        sql_count(conn, &format!("SELECT COUNT(*) AS n FROM notifications WHERE user_id = {user} AND NOT is_read"));
    let stored = sql_count(conn, &format!("SELECT unread_count AS n FROM inbox_state WHERE user_id = {user}"));
    assert_eq!(rest, rows, "REST unread-count vs unread rows");
    assert_eq!(stored, rows, "inbox_state.unread_count vs unread rows");
    let filtered = list(app, user, "?unread=true&type=general").await;
    assert_eq!(filtered["total"], json!(rows), "COUNT of the unread filter");
    assert_eq!(filtered["unread_count"], json!(rows));
    rows
}

#[actix_web::test]
async fn unread_count_stays_exact_under_concurrent_reads_and_creates() {
    const USER: i64 = 9;
    let db = TestDb::new();
    let url = db.url.clone();
    let app = TestApp::spawn_on(DbGuard::Postgres(db), &url, &[]).await;
    let mut conn = PgConnection::establish(&url).expect("connect to the test database");
    let me = token(USER);

    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(app.create_for_self(USER, &format!("n{i}")).await["id"].as_i64().expect("id"));
    }
    assert_eq!(assert_counts_exact(&app, &mut conn, USER).await, 30);

    // Two read beforehand, so some deletes below certainly hit read rows.
    for id in &ids[15..17] {
        let (status, body) = app.post_empty(&format!("/auth/notifications/{id}/read/"), &me).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(assert_counts_exact(&app, &mut conn, USER).await, 28);

    // Phase 1, all at once: read 15 (5 of them twice), delete 5 (2 read, 1 being read right
    // now, 2 unread), create 10.
    let reads: Vec<i64> = ids[0..15].iter().chain(&ids[0..5]).copied().collect();
    let deletes: Vec<i64> = vec![ids[15], ids[25], ids[14], ids[16], ids[26]];
    let mut ops: Vec<(Method, String, Option<Value>)> = Vec::new();
    for round in 0..20 {
        if let Some(id) = reads.get(round) {
            ops.push((Method::POST, format!("/auth/notifications/{id}/read/"), None));
        }
        if let Some(id) = deletes.get(round) {
            ops.push((Method::DELETE, format!("/auth/notifications/{id}/delete/"), None));
        }
        if round < 10 {
            ops.push((
                Method::POST,
                "/auth/notifications/create/".into(),
                Some(json!({"title": format!("new {round}")})),
            ));
        }
    }
    let results =
        join_all(ops.iter().map(|(method, path, body)| app.call(method.clone(), path, Some(&me), body.clone()))).await;
    for ((method, path, _), (status, body)) in ops.iter().zip(&results) {
        let read_of_deleted = path.ends_with("/read/") && deletes.iter().any(|id| path.contains(&format!("/{id}/")));
        let ok = match (method.as_str(), path.ends_with("/create/")) {
            (_, true) => *status == StatusCode::CREATED,
            ("DELETE", _) => *status == StatusCode::OK,
            _ => *status == StatusCode::OK || (read_of_deleted && *status == StatusCode::NOT_FOUND),
        };
        assert!(ok, "{method} {path}: {status} {body}");
    }
    // 40 rows − 5 deleted = 35. Unread: 40 minus the 17 read (ids 0..17, whether or not deleted
    // too) minus the 2 unread ones deleted.
    assert_eq!(list(&app, USER, "").await["total"], json!(35));
    assert_eq!(assert_counts_exact(&app, &mut conn, USER).await, 21);

    // Phase 2: unread some, read others, mark all read and create, all at once. The outcome
    // depends on the interleaving; the counter must match the rows whatever it was.
    let live: Vec<i64> = ids.iter().copied().filter(|id| !deletes.contains(id)).collect();
    let mut ops: Vec<(Method, String, Option<Value>)> = Vec::new();
    for (i, id) in live.iter().enumerate().take(20) {
        let action = if i % 2 == 0 { "unread" } else { "read" };
        ops.push((Method::POST, format!("/auth/notifications/{id}/{action}/"), None));
        if i % 5 == 0 {
            ops.push((Method::POST, "/auth/notifications/mark-all-read/".into(), None));
            ops.push((Method::POST, "/auth/notifications/create/".into(), Some(json!({"title": format!("late {i}")}))));
        }
    }
    let results =
        join_all(ops.iter().map(|(method, path, body)| app.call(method.clone(), path, Some(&me), body.clone()))).await;
    for ((method, path, _), (status, body)) in ops.iter().zip(&results) {
        assert!(status.is_success(), "{method} {path}: {status} {body}");
    }
    assert_eq!(list(&app, USER, "").await["total"], json!(39));
    assert_counts_exact(&app, &mut conn, USER).await;
}
