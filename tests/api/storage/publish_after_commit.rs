//! Every change is published only after its transaction committed.

use super::{frame, next_event};
use crate::helpers::*;
use actix_web::rt::task::JoinHandle;
use awc::http::{Method, StatusCode};
use diesel::prelude::*;
use herald::event::Event;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::broadcast;

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

/// The node under test, a connection to its database (to hold a user's row lock), and its broker.
struct World {
    app: TestApp,
    conn: PgConnection,
    rx: broadcast::Receiver<Event>,
    me: String,
}

const USER: i64 = 3;

#[actix_web::test]
async fn every_change_is_published_after_commit() {
    let db = TestDb::new();
    let url = db.url.clone();
    let app = TestApp::spawn_on(DbGuard::Postgres(db), &url, &[]).await;
    let conn = PgConnection::establish(&url).expect("connect to the test database");
    let rx = app.broker.subscribe();
    let mut w = World { app, conn, rx, me: token(USER) };
    let [n1, n2] = creates_publish_after_commit(&mut w).await;
    reads_publish_after_commit(&mut w, n1, n2).await;
    mark_all_read_publishes_after_commit(&mut w).await;
    deletes_publish_after_commit(&mut w, n1, n2).await;
    a_broadcast_publishes_one_event_per_recipient(&mut w).await;
}

async fn creates_publish_after_commit(w: &mut World) -> [i64; 2] {
    // Create: the event carries the stored row, and the row is visible when it arrives. The
    // second create runs while the test holds the inbox row: no event before it commits.
    let mut created = Vec::new();
    for title in ["first", "second"] {
        let create = (Method::POST, "/auth/notifications/create/", Some(json!({"title": title})));
        let (event, request) = if created.is_empty() {
            // No inbox row to hold yet.
            let request = spawn_request(&w.app, create.0, create.1, &w.me, create.2);
            (next_event(&mut w.rx).await, request)
        } else {
            publish_waits_for_commit(&w.app, &mut w.conn, &mut w.rx, USER, create).await
        };
        let pushed = frame(&event);
        assert_eq!(event.user_id.get(), USER);
        assert_eq!(pushed["type"], "notification", "{pushed}");
        let id = pushed["notification"]["id"].as_i64().expect("id");
        assert_eq!(event.notification_id.map(|n| n.get()), Some(id));
        assert!(ids_of(&list(&w.app, USER, "").await).contains(&id), "event for {id} before its commit");
        let (status, body) = finished(request).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(pushed, json!({"type": "notification", "notification": body["notification"]}));
        created.push(id);
    }
    [created[0], created[1]]
}

async fn reads_publish_after_commit(w: &mut World, n1: i64, n2: i64) {
    // Read.
    let read_n1 = format!("/auth/notifications/{n1}/read/");
    let (event, request) =
        publish_waits_for_commit(&w.app, &mut w.conn, &mut w.rx, USER, (Method::POST, &read_n1, None)).await;
    assert_eq!(event.user_id.get(), USER);
    assert!(event.notification_id.is_none(), "notification_id is only set for new notifications");
    assert_eq!(
        frame(&event),
        json!({"type": "notification_read", "notification_id": n1, "unread_count": 1, "unseen_count": 1})
    );
    assert_eq!(unread_count(&w.app, USER).await, 1, "read committed before its event");
    assert_eq!(ids_of(&list(&w.app, USER, "?unread=true").await), vec![n2]);
    let (status, body) = finished(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unread_count"], json!(1));

    // A repeated read changes nothing and publishes nothing: the next event is the unread's.
    let (status, body) = w.app.post_empty(&read_n1, &w.me).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let unread_n1 = format!("/auth/notifications/{n1}/unread/");
    let (event, request) =
        publish_waits_for_commit(&w.app, &mut w.conn, &mut w.rx, USER, (Method::POST, &unread_n1, None)).await;
    assert_eq!(event.user_id.get(), USER);
    assert!(event.notification_id.is_none());
    assert_eq!(
        frame(&event),
        json!({"type": "notification_unread", "notification_id": n1, "unread_count": 2, "unseen_count": 1}),
        "a repeated read must publish nothing"
    );
    assert_eq!(unread_count(&w.app, USER).await, 2, "unread committed before its event");
    assert_eq!(list(&w.app, USER, "").await["notifications"][1]["read_at"], json!(null));
    let (status, _) = finished(request).await;
    assert_eq!(status, StatusCode::OK);
}

async fn mark_all_read_publishes_after_commit(w: &mut World) {
    // Mark all read.
    let all = (Method::POST, "/auth/notifications/mark-all-read/", None);
    let (event, request) = publish_waits_for_commit(&w.app, &mut w.conn, &mut w.rx, USER, all).await;
    assert_eq!(event.user_id.get(), USER);
    assert!(event.notification_id.is_none());
    assert_eq!(frame(&event), json!({"type": "all_read", "marked": 2, "unread_count": 0, "unseen_count": 0}));
    assert_eq!(unread_count(&w.app, USER).await, 0, "mark-all-read committed before its event");
    assert_eq!(list(&w.app, USER, "?unread=true&type=general").await["total"], json!(0));
    let (status, body) = finished(request).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"marked": 2, "unread_count": 0, "unseen_count": 0})));
}

async fn deletes_publish_after_commit(w: &mut World, n1: i64, n2: i64) {
    // A third, unread, so deletes report a non-trivial count.
    let (status, third) = w.app.post("/auth/notifications/create/", &w.me, json!({"title": "third"})).await;
    assert_eq!(status, StatusCode::CREATED, "{third}");
    let n3 = third["notification"]["id"].as_i64().expect("id");
    let event = next_event(&mut w.rx).await;
    assert_eq!(event.notification_id.map(|n| n.get()), Some(n3));

    // Delete a read one.
    let request = spawn_request(&w.app, Method::DELETE, &format!("/auth/notifications/{n2}/delete/"), &w.me, None);
    let event = next_event(&mut w.rx).await;
    assert_eq!(event.user_id.get(), USER);
    assert!(event.notification_id.is_none());
    assert_eq!(
        frame(&event),
        json!({"type": "notification_deleted", "notification_id": n2, "unread_count": 1, "unseen_count": 1})
    );
    assert!(!ids_of(&list(&w.app, USER, "").await).contains(&n2), "delete committed before its event");
    let (status, body) = finished(request).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"deleted": true, "unread_count": 1, "unseen_count": 1})));

    // Deleting it again is a 404 and publishes nothing; deleting the unread one does.
    let (status, _) = w.app.delete(&format!("/auth/notifications/{n2}/delete/"), &w.me).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let delete_n3 = format!("/auth/notifications/{n3}/delete/");
    let (event, request) =
        publish_waits_for_commit(&w.app, &mut w.conn, &mut w.rx, USER, (Method::DELETE, &delete_n3, None)).await;
    assert_eq!(
        frame(&event),
        json!({"type": "notification_deleted", "notification_id": n3, "unread_count": 0, "unseen_count": 0}),
        "a failed delete must publish nothing"
    );
    assert_eq!(unread_count(&w.app, USER).await, 0);
    assert_eq!(ids_of(&list(&w.app, USER, "").await), vec![n1]);
    let (status, _) = finished(request).await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_broadcast_publishes_one_event_per_recipient(w: &mut World) {
    // A broadcast to three users publishes one notification event each.
    let request = spawn_request(
        &w.app,
        Method::POST,
        "/auth/notifications/broadcast/",
        &staff_token(99),
        Some(json!({"user_ids": [12, 10, 11, 10], "title": "all hands"})),
    );
    let mut pushed = BTreeMap::new();
    for _ in 0..3 {
        let event = next_event(&mut w.rx).await;
        let body = frame(&event);
        assert_eq!(body["type"], "notification", "{body}");
        let user = event.user_id.get();
        assert_eq!(body["notification"]["user_id"], json!(user));
        let id = event.notification_id.map(|n| n.get()).expect("notification id");
        assert_eq!(body["notification"]["id"], json!(id));
        assert!(ids_of(&list(&w.app, user, "").await).contains(&id), "broadcast committed before its event");
        assert!(pushed.insert(user, id).is_none(), "one event per recipient");
    }
    let (status, body) = finished(request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(pushed.keys().copied().collect::<Vec<_>>(), vec![10, 11, 12]);
    let ids: BTreeSet<i64> =
        body["notification_ids"].as_array().expect("ids").iter().map(|v| v.as_i64().expect("id")).collect();
    assert_eq!(ids, pushed.values().copied().collect::<BTreeSet<_>>());
    let extra = tokio::time::timeout(Duration::from_millis(300), w.rx.recv()).await;
    assert!(extra.is_err(), "exactly three events for the broadcast, then nothing: {extra:?}");
}
