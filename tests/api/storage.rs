//! Storage guarantees of SPEC §3–4 and DESIGN §1: both backends' migrations agree, per-user ids
//! become visible in increasing order under concurrent writers, idempotency keys, preferences,
//! publish-after-commit, and an unread counter that stays exact under concurrency.

use crate::helpers::*;
use crate::on_both_backends;
use actix_web::rt::task::JoinHandle;
use awc::http::{Method, StatusCode};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use futures_util::future::join_all;
use herald::event::Event;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// (table, column, nullable) of every user table.
type Schema = BTreeSet<(String, String, bool)>;

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

fn postgres_schema(conn: &mut PgConnection) -> Schema {
    diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, is_nullable::text AS is_nullable \
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load::<PgColumn>(conn)
    .expect("read information_schema.columns")
    .into_iter()
    .map(|c| (c.table_name, c.column_name, c.is_nullable == "YES"))
    .collect()
}

#[derive(QueryableByName)]
struct SqliteTable {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    declared_type: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

/// Nullability as SQLite enforces it: `NOT NULL`, or the `INTEGER PRIMARY KEY` rowid alias
/// (which can never hold NULL). Any other column accepts NULL, primary key or not.
fn sqlite_schema(path: &Path) -> Schema {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).expect("open the SQLite file");
    let tables = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '__diesel_schema_migrations'",
    )
    .load::<SqliteTable>(&mut conn)
    .expect("list SQLite tables");
    let mut schema = Schema::new();
    for table in tables {
        let columns = diesel::sql_query(format!(
            "SELECT name, type AS declared_type, \"notnull\" AS not_null, pk FROM pragma_table_info('{}')",
            table.name
        ))
        .load::<SqliteColumn>(&mut conn)
        .expect("PRAGMA table_info");
        let pk_columns = columns.iter().filter(|c| c.pk > 0).count();
        for c in columns {
            let rowid_alias = c.pk > 0 && pk_columns == 1 && c.declared_type.eq_ignore_ascii_case("INTEGER");
            schema.insert((table.name.clone(), c.name, !(c.not_null != 0 || rowid_alias)));
        }
    }
    schema
}

fn names_only(schema: &Schema) -> BTreeSet<(String, String)> {
    schema.iter().map(|(t, c, _)| (t.clone(), c.clone())).collect()
}

fn migrated_schemas() -> (Schema, Schema) {
    let pg = TestDb::new();
    let pg_schema = postgres_schema(&mut pg.connect());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("schema.db");
    let ran = herald::db::migrate(&herald::config::DatabaseUrl::Sqlite(path.clone())).expect("migrate SQLite");
    assert!(ran > 0, "a fresh SQLite file runs the migrations");
    (pg_schema, sqlite_schema(&path))
}

fn migration_dirs(backend: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
        .map(|entry| entry.expect("directory entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| {
            for file in ["up.sql", "down.sql"] {
                assert!(entry.path().join(file).is_file(), "{} has no {file}", entry.path().display());
            }
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect()
}

/// The next event the node publishes, within `WAIT`.
async fn next_event(rx: &mut broadcast::Receiver<Event>) -> Event {
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Ok(event)) => event,
        Ok(Err(e)) => panic!("broker receiver failed: {e}"),
        Err(_) => panic!("no broker event within {WAIT:?}"),
    }
}

fn frame(event: &Event) -> Value {
    serde_json::from_str(&event.frame).expect("the event frame is JSON")
}

/// Fails if any event for `user` arrives within `quiet`.
async fn assert_silent_for(rx: &mut broadcast::Receiver<Event>, user: i64, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return,
            Ok(Ok(event)) => {
                assert_ne!(event.user_id.get(), user, "unexpected event for user {user}: {}", frame(&event));
            }
            Ok(Err(e)) => panic!("broker receiver failed: {e}"),
        }
    }
}

/// Starts a request on its own task, so the test can watch the broker while it runs.
fn spawn_request(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> JoinHandle<(StatusCode, Value)> {
    let client = app.client.clone();
    let url = app.url(path);
    let token = token.to_owned();
    actix_web::rt::spawn(async move {
        let req = client.request(method, url).bearer_auth(token);
        let mut res = match body {
            Some(body) => req.send_json(&body).await,
            None => req.send().await,
        }
        .expect("request reaches the node");
        let status = res.status();
        let bytes = res.body().await.expect("response body");
        (status, parse_body(&bytes))
    })
}

async fn finished(handle: JoinHandle<(StatusCode, Value)>) -> (StatusCode, Value) {
    handle.await.expect("request task completes")
}

/// POST with raw headers (for `Idempotency-Key`); returns status and body.
async fn post_with_key(app: &TestApp, path: &str, token: &str, key: &str, body: &Value) -> (StatusCode, Value) {
    let auth = format!("Bearer {token}");
    let (status, _, body) = app
        .raw(
            Method::POST,
            path,
            &[("Authorization", &auth), ("Content-Type", "application/json"), ("Idempotency-Key", key)],
            serde_json::to_vec(body).expect("serialize body"),
        )
        .await;
    (status, body)
}

// ---------------------------------------------------------------------------------------------
// 1. Migrations
// ---------------------------------------------------------------------------------------------

#[test]
fn migrations_produce_same_tables_and_columns_on_both_backends() {
    let (pg, lite) = migrated_schemas();
    assert!(!pg.is_empty(), "PostgreSQL has tables");
    let only_pg: Vec<_> = pg.difference(&lite).collect();
    let only_lite: Vec<_> = lite.difference(&pg).collect();
    assert!(
        only_pg.is_empty() && only_lite.is_empty(),
        "(table, column, nullable) differ:\n only PostgreSQL: {only_pg:?}\n only SQLite: {only_lite:?}"
    );
    let pg_dirs = migration_dirs("postgres");
    assert!(!pg_dirs.is_empty());
    assert_eq!(pg_dirs, migration_dirs("sqlite"), "migration directory names differ");
}

/// The part of the comparison above that holds today: same tables, same column names, same
/// migration directories (nullability is compared above).
#[test]
fn migrations_produce_same_tables_and_column_names_on_both_backends() {
    let (pg, lite) = migrated_schemas();
    let tables: BTreeSet<String> = pg.iter().map(|(t, _, _)| t.clone()).collect();
    let expected: BTreeSet<String> = ["idempotency_keys", "inbox_state", "notification_preferences", "notifications"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(tables, expected);
    assert_eq!(names_only(&pg), names_only(&lite), "column names differ between the backends");
    let pg_dirs = migration_dirs("postgres");
    assert!(!pg_dirs.is_empty());
    assert_eq!(pg_dirs, migration_dirs("sqlite"), "migration directory names differ");
}

/// What the nullability difference above means: SQLite stores an inbox row with no user.
#[test]
fn sqlite_inbox_state_refuses_a_null_user_like_postgres() {
    use diesel::connection::SimpleConnection;
    let pg = TestDb::new();
    let pg_result = pg.connect().batch_execute("INSERT INTO inbox_state (user_id, unread_count) VALUES (NULL, 0)");
    assert!(pg_result.is_err(), "PostgreSQL refuses a NULL primary key");

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("null.db");
    herald::db::migrate(&herald::config::DatabaseUrl::Sqlite(path.clone())).expect("migrate SQLite");
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).expect("open SQLite");
    let lite_result = conn.batch_execute("INSERT INTO inbox_state (user_id, unread_count) VALUES (NULL, 0)");
    assert!(lite_result.is_err(), "SQLite stored an inbox_state row with user_id NULL");
}

// ---------------------------------------------------------------------------------------------
// 2. Per-user id order under concurrent writers
// ---------------------------------------------------------------------------------------------

on_both_backends!(ids_become_visible_in_increasing_order_under_20_concurrent_writers, |app| {
    const USER: i64 = 7;
    const WRITERS: i64 = 20;
    const EACH: usize = 10;
    const ALL: usize = (WRITERS as usize) * EACH;

    let writers = join_all((0..WRITERS).map(|writer| {
        let app = &app;
        async move {
            let sender = staff_token(100 + writer);
            let mut ids = Vec::with_capacity(EACH);
            for i in 0..EACH {
                let (status, body) = app
                    .post(
                        "/auth/notifications/create/",
                        &sender,
                        json!({"user_id": USER, "title": format!("writer {writer} #{i}")}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
                assert_eq!(body["notification"]["sender_id"], json!(100 + writer));
                ids.push(body["notification"]["id"].as_i64().expect("id"));
            }
            ids
        }
    }));

    let reader = async {
        let me = token(USER);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = BTreeSet::new();
        let mut highest = 0;
        let mut polls = 0;
        while seen.len() < ALL {
            assert!(Instant::now() < deadline, "saw only {} of {ALL} notifications within 30 s", seen.len());
            let (status, page) = app.get("/auth/notifications/?limit=200", &me).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let ids = ids_of(&page);
            assert!(ids.windows(2).all(|w| w[0] > w[1]), "page is newest first: {ids:?}");
            for id in &ids {
                if !seen.contains(id) {
                    assert!(
                        *id > highest,
                        "poll {polls}: id {id} became visible after id {highest} had already been seen"
                    );
                }
            }
            assert!(seen.iter().all(|id| ids.contains(id)), "poll {polls}: a notification seen earlier vanished");
            seen.extend(ids.iter().copied());
            highest = seen.last().copied().unwrap_or(0);
            polls += 1;
        }
        (seen, polls)
    };

    let (created, (seen, polls)) = futures_util::future::join(writers, reader).await;
    let created: BTreeSet<i64> = created.into_iter().flatten().collect();
    assert_eq!(created.len(), ALL, "every create returned its own id");
    assert_eq!(seen, created, "the reader saw exactly the created ids (after {polls} polls)");

    let page = list(&app, USER, "?limit=200").await;
    assert_eq!(page["total"], json!(ALL), "{}", page["total"]);
    assert_eq!(page["unread_count"], json!(ALL));
    assert_eq!(unread_count(&app, USER).await, ALL as i64);
});

// ---------------------------------------------------------------------------------------------
// 3. Idempotency keys
// ---------------------------------------------------------------------------------------------

on_both_backends!(idempotency_keys_replay_the_first_response_per_caller_and_operation, |app| {
    const CREATE: &str = "/auth/notifications/create/";
    const BROADCAST: &str = "/auth/notifications/broadcast/";
    let alice = token(20);
    let body = json!({"title": "only once", "data": {"n": 1}});

    let replies = join_all((0..10).map(|_| post_with_key(&app, CREATE, &alice, "key-1", &body))).await;
    let (first_status, first_body) = replies[0].clone();
    assert_eq!(first_status, StatusCode::CREATED, "{first_body}");
    for (status, reply) in &replies {
        assert_eq!((*status, reply), (first_status, &first_body), "all 10 concurrent replies are identical");
    }
    let first_id = first_body["notification"]["id"].as_i64().expect("id");
    let page = list(&app, 20, "").await;
    assert_eq!(page["total"], json!(1), "exactly one stored: {page}");
    assert_eq!(page["unread_count"], json!(1));
    assert_eq!(page["notifications"][0], first_body["notification"]);

    let later = post_with_key(&app, CREATE, &alice, "key-1", &body).await;
    assert_eq!(later, (first_status, first_body.clone()), "a later repeat replays the first reply");
    assert_eq!(list(&app, 20, "").await["total"], json!(1));

    // Another caller's identical key is its own.
    let (status, bob_reply) = post_with_key(&app, CREATE, &token(21), "key-1", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{bob_reply}");
    assert_eq!(bob_reply["notification"]["user_id"], json!(21));
    assert_ne!(bob_reply["notification"]["id"].as_i64(), Some(first_id));
    assert_eq!(list(&app, 21, "").await["total"], json!(1));
    assert_eq!(list(&app, 20, "").await["total"], json!(1));

    // Another key from the same caller creates another.
    let (status, second) = post_with_key(&app, CREATE, &alice, "key-2", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(second["notification"]["id"].as_i64(), Some(first_id));
    assert_eq!(list(&app, 20, "").await["total"], json!(2));

    // Broadcast: a repeat returns the same body and stores nothing.
    let staff = staff_token(30);
    let cast = json!({"user_ids": [40, 41], "title": "to everyone"});
    let (status, cast_reply) = post_with_key(&app, BROADCAST, &staff, "b-1", &cast).await;
    assert_eq!(status, StatusCode::CREATED, "{cast_reply}");
    assert_eq!(cast_reply["created"], json!(2));
    let again = post_with_key(&app, BROADCAST, &staff, "b-1", &cast).await;
    assert_eq!(again, (StatusCode::CREATED, cast_reply.clone()));
    assert_eq!(list(&app, 40, "").await["total"], json!(1));
    assert_eq!(list(&app, 41, "").await["total"], json!(1));

    // One key, two operations: the scopes do not collide.
    let (status, created) =
        post_with_key(&app, CREATE, &staff, "shared", &json!({"user_id": 40, "title": "one"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["notification"]["user_id"], json!(40));
    let (status, cast_shared) = post_with_key(&app, BROADCAST, &staff, "shared", &cast).await;
    assert_eq!(status, StatusCode::CREATED, "{cast_shared}");
    assert_eq!(cast_shared["created"], json!(2), "the broadcast ran, not a replay of the create: {cast_shared}");
    assert!(cast_shared.get("notification").is_none(), "{cast_shared}");
    assert_eq!(list(&app, 40, "").await["total"], json!(3));
    assert_eq!(list(&app, 41, "").await["total"], json!(2));
    let replay = post_with_key(&app, CREATE, &staff, "shared", &json!({"user_id": 40, "title": "one"})).await;
    assert_eq!(replay, (StatusCode::CREATED, created));
    assert_eq!(list(&app, 40, "").await["total"], json!(3));
});

// ---------------------------------------------------------------------------------------------
// 4. Preferences
// ---------------------------------------------------------------------------------------------

on_both_backends!(preferences_suppress_storage_or_live_push_per_type, |app| {
    const USER: i64 = 50;
    let me = token(USER);
    let mut expected: BTreeMap<String, Value> =
        NOTIFICATION_TYPES.iter().map(|t| ((*t).to_owned(), json!({"enabled": true, "realtime": true}))).collect();

    let (status, prefs) = app.get("/auth/notifications/preferences/", &me).await;
    assert_eq!(status, StatusCode::OK, "{prefs}");
    assert_eq!(prefs, json!({ "preferences": expected }), "all eight types on by default");

    let mut rx = app.broker.subscribe();

    let (status, prefs) =
        app.put("/auth/notifications/preferences/", &me, json!({"preferences": {"general": {"enabled": false}}})).await;
    assert_eq!(status, StatusCode::OK, "{prefs}");
    expected.insert("general".into(), json!({"enabled": false, "realtime": true}));
    assert_eq!(prefs, json!({ "preferences": expected }));
    assert_eq!(app.get("/auth/notifications/preferences/", &me).await.1, json!({ "preferences": expected }));

    for body in [json!({"title": "default type"}), json!({"title": "named type", "type": "general"})] {
        let (status, reply) = app.post("/auth/notifications/create/", &me, body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply, json!({"suppressed": true, "reason": "preference"}));
    }
    let page = list(&app, USER, "").await;
    assert_eq!((page["total"].clone(), page["unread_count"].clone()), (json!(0), json!(0)), "{page}");
    assert_eq!(unread_count(&app, USER).await, 0);

    // Other types are stored and pushed; the control's event is the first one: nothing for the
    // suppressed ones came before it.
    let (status, control) =
        app.post("/auth/notifications/create/", &me, json!({"title": "control", "type": "action_item"})).await;
    assert_eq!(status, StatusCode::CREATED, "{control}");
    let event = next_event(&mut rx).await;
    assert_eq!(event.user_id.get(), USER);
    assert_eq!(event.notification_id.map(|id| id.get()), control["notification"]["id"].as_i64(), "{}", frame(&event));

    // realtime: false — stored and counted, never pushed.
    let (status, prefs) = app
        .put("/auth/notifications/preferences/", &me, json!({"preferences": {"meeting": {"realtime": false}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{prefs}");
    expected.insert("meeting".into(), json!({"enabled": true, "realtime": false}));
    assert_eq!(prefs, json!({ "preferences": expected }));
    let (status, meeting) =
        app.post("/auth/notifications/create/", &me, json!({"title": "quiet", "type": "meeting"})).await;
    assert_eq!(status, StatusCode::CREATED, "{meeting}");
    let page = list(&app, USER, "").await;
    assert_eq!(page["total"], json!(2), "{page}");
    assert_eq!(page["unread_count"], json!(2));
    assert_eq!(page["notifications"][0], meeting["notification"]);
    let (status, control2) =
        app.post("/auth/notifications/create/", &me, json!({"title": "control 2", "type": "meeting_response"})).await;
    assert_eq!(status, StatusCode::CREATED, "{control2}");
    let event = next_event(&mut rx).await;
    assert_eq!(event.user_id.get(), USER);
    assert_eq!(
        event.notification_id.map(|id| id.get()),
        control2["notification"]["id"].as_i64(),
        "the realtime:false notification was pushed: {}",
        frame(&event)
    );
    assert_silent_for(&mut rx, USER, Duration::from_millis(300)).await;

    // Broadcast: the recipient who disabled the type gets nothing.
    let (status, _) = app
        .put("/auth/notifications/preferences/", &token(2), json!({"preferences": {"mom_created": {"enabled": false}}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, cast) = app
        .post(
            "/auth/notifications/broadcast/",
            &staff_token(99),
            json!({"user_ids": [1, 2], "title": "minutes", "type": "mom_created"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cast}");
    assert_eq!(cast["created"], json!(1), "{cast}");
    assert_eq!(cast["suppressed"], json!(1), "{cast}");
    let ids = cast["notification_ids"].as_array().expect("notification_ids").clone();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids_of(&list(&app, 1, "").await), vec![ids[0].as_i64().expect("id")]);
    assert_eq!(list(&app, 2, "").await["total"], json!(0));
    let event = next_event(&mut rx).await;
    assert_eq!(event.user_id.get(), 1, "{}", frame(&event));
    assert_silent_for(&mut rx, 2, Duration::from_millis(300)).await;
});

// ---------------------------------------------------------------------------------------------
// 5. Publish after commit
// ---------------------------------------------------------------------------------------------

/// Starts `method path` while the test holds the user's `inbox_state` row lock, so the node's
/// transaction can do its work but not commit: nothing may be published meanwhile. Then lets
/// it commit and returns the event that follows, with the still-running request.
async fn publish_waits_for_commit(
    app: &TestApp,
    conn: &mut PgConnection,
    rx: &mut broadcast::Receiver<Event>,
    user: i64,
    (method, path, body): (Method, &str, Option<Value>),
) -> (Event, JoinHandle<(StatusCode, Value)>) {
    use diesel::connection::SimpleConnection;
    conn.batch_execute(&format!("BEGIN; SELECT unread_count FROM inbox_state WHERE user_id = {user} FOR UPDATE"))
        .expect("lock the user's inbox row");
    let request = spawn_request(app, method.clone(), path, &token(user), body);
    let early = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
    let blocked = !request.is_finished();
    conn.batch_execute("COMMIT").expect("release the inbox row");
    assert!(early.is_err(), "{method} {path}: published before its transaction could commit: {early:?}");
    assert!(blocked, "{method} {path} finished while the user's inbox row was locked");
    (next_event(rx).await, request)
}

#[actix_web::test]
async fn every_change_is_published_after_commit() {
    const USER: i64 = 3;
    let db = TestDb::new();
    let url = db.url.clone();
    let app = TestApp::spawn_on(DbGuard::Postgres(db), &url, &[]).await;
    let mut conn = PgConnection::establish(&url).expect("connect to the test database");
    let me = token(USER);
    let mut rx = app.broker.subscribe();

    // Create: the event carries the stored row, and the row is visible when it arrives. The
    // second create runs while the test holds the inbox row: no event before it commits.
    let mut created = Vec::new();
    for title in ["first", "second"] {
        let create = (Method::POST, "/auth/notifications/create/", Some(json!({"title": title})));
        let (event, request) = if created.is_empty() {
            // No inbox row to hold yet.
            let request = spawn_request(&app, create.0, create.1, &me, create.2);
            (next_event(&mut rx).await, request)
        } else {
            publish_waits_for_commit(&app, &mut conn, &mut rx, USER, create).await
        };
        let pushed = frame(&event);
        assert_eq!(event.user_id.get(), USER);
        assert_eq!(pushed["type"], "notification", "{pushed}");
        let id = pushed["notification"]["id"].as_i64().expect("id");
        assert_eq!(event.notification_id.map(|n| n.get()), Some(id));
        assert!(ids_of(&list(&app, USER, "").await).contains(&id), "event for {id} before its commit");
        let (status, body) = finished(request).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(pushed, json!({"type": "notification", "notification": body["notification"]}));
        created.push(id);
    }
    let (n1, n2) = (created[0], created[1]);

    // Read.
    let read_n1 = format!("/auth/notifications/{n1}/read/");
    let (event, request) =
        publish_waits_for_commit(&app, &mut conn, &mut rx, USER, (Method::POST, &read_n1, None)).await;
    assert_eq!(event.user_id.get(), USER);
    assert!(event.notification_id.is_none(), "notification_id is only set for new notifications");
    assert_eq!(frame(&event), json!({"type": "notification_read", "notification_id": n1, "unread_count": 1}));
    assert_eq!(unread_count(&app, USER).await, 1, "read committed before its event");
    assert_eq!(ids_of(&list(&app, USER, "?unread=true").await), vec![n2]);
    let (status, body) = finished(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unread_count"], json!(1));

    // A repeated read changes nothing and publishes nothing: the next event is the unread's.
    let (status, body) = app.post_empty(&read_n1, &me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let unread_n1 = format!("/auth/notifications/{n1}/unread/");
    let (event, request) =
        publish_waits_for_commit(&app, &mut conn, &mut rx, USER, (Method::POST, &unread_n1, None)).await;
    assert_eq!(event.user_id.get(), USER);
    assert!(event.notification_id.is_none());
    assert_eq!(
        frame(&event),
        json!({"type": "notification_unread", "notification_id": n1, "unread_count": 2}),
        "a repeated read must publish nothing"
    );
    assert_eq!(unread_count(&app, USER).await, 2, "unread committed before its event");
    assert_eq!(list(&app, USER, "").await["notifications"][1]["read_at"], json!(null));
    let (status, _) = finished(request).await;
    assert_eq!(status, StatusCode::OK);

    // Mark all read.
    let all = (Method::POST, "/auth/notifications/mark-all-read/", None);
    let (event, request) = publish_waits_for_commit(&app, &mut conn, &mut rx, USER, all).await;
    assert_eq!(event.user_id.get(), USER);
    assert!(event.notification_id.is_none());
    assert_eq!(frame(&event), json!({"type": "all_read", "marked": 2, "unread_count": 0}));
    assert_eq!(unread_count(&app, USER).await, 0, "mark-all-read committed before its event");
    assert_eq!(list(&app, USER, "?unread=true&type=general").await["total"], json!(0));
    let (status, body) = finished(request).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"marked": 2, "unread_count": 0})));

    // A third, unread, so deletes report a non-trivial count.
    let (status, third) = app.post("/auth/notifications/create/", &me, json!({"title": "third"})).await;
    assert_eq!(status, StatusCode::CREATED, "{third}");
    let n3 = third["notification"]["id"].as_i64().expect("id");
    let event = next_event(&mut rx).await;
    assert_eq!(event.notification_id.map(|n| n.get()), Some(n3));

    // Delete a read one.
    let request = spawn_request(&app, Method::DELETE, &format!("/auth/notifications/{n2}/delete/"), &me, None);
    let event = next_event(&mut rx).await;
    assert_eq!(event.user_id.get(), USER);
    assert!(event.notification_id.is_none());
    assert_eq!(frame(&event), json!({"type": "notification_deleted", "notification_id": n2, "unread_count": 1}));
    assert!(!ids_of(&list(&app, USER, "").await).contains(&n2), "delete committed before its event");
    let (status, body) = finished(request).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"deleted": true, "unread_count": 1})));

    // Deleting it again is a 404 and publishes nothing; deleting the unread one does.
    let (status, _) = app.delete(&format!("/auth/notifications/{n2}/delete/"), &me).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let delete_n3 = format!("/auth/notifications/{n3}/delete/");
    let (event, request) =
        publish_waits_for_commit(&app, &mut conn, &mut rx, USER, (Method::DELETE, &delete_n3, None)).await;
    assert_eq!(
        frame(&event),
        json!({"type": "notification_deleted", "notification_id": n3, "unread_count": 0}),
        "a failed delete must publish nothing"
    );
    assert_eq!(unread_count(&app, USER).await, 0);
    assert_eq!(ids_of(&list(&app, USER, "").await), vec![n1]);
    let (status, _) = finished(request).await;
    assert_eq!(status, StatusCode::OK);

    // A broadcast to three users publishes one notification event each.
    let request = spawn_request(
        &app,
        Method::POST,
        "/auth/notifications/broadcast/",
        &staff_token(99),
        Some(json!({"user_ids": [12, 10, 11, 10], "title": "all hands"})),
    );
    let mut pushed = BTreeMap::new();
    for _ in 0..3 {
        let event = next_event(&mut rx).await;
        let body = frame(&event);
        assert_eq!(body["type"], "notification", "{body}");
        let user = event.user_id.get();
        assert_eq!(body["notification"]["user_id"], json!(user));
        let id = event.notification_id.map(|n| n.get()).expect("notification id");
        assert_eq!(body["notification"]["id"], json!(id));
        assert!(ids_of(&list(&app, user, "").await).contains(&id), "broadcast committed before its event");
        assert!(pushed.insert(user, id).is_none(), "one event per recipient");
    }
    let (status, body) = finished(request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(pushed.keys().copied().collect::<Vec<_>>(), vec![10, 11, 12]);
    let ids: BTreeSet<i64> =
        body["notification_ids"].as_array().expect("ids").iter().map(|v| v.as_i64().expect("id")).collect();
    assert_eq!(ids, pushed.values().copied().collect::<BTreeSet<_>>());
    let extra = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
    assert!(extra.is_err(), "exactly three events for the broadcast, then nothing: {extra:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. Exact unread counter under concurrency
// ---------------------------------------------------------------------------------------------

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
