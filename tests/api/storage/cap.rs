//! The storage cap (`HERALD_MAX_STORED_PER_USER`, issue 25 point 2): at the cap a create first
//! deletes the user's oldest *read* notifications, pushed as `notification_deleted`; an inbox
//! full of unread ones refuses REST creates, WebSocket `send_notification` and keyed creates with
//! 429 `inbox_full` (nothing lost, the key not used up), and a broadcast skips and names it.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use serde_json::{json, Value};

const CAP: &str = "3";

async fn capped(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[("HERALD_MAX_STORED_PER_USER", CAP)]).await
}

/// The ids of `user`'s list, newest first, with its `total` and `unread_count`.
async fn inbox(app: &TestApp, user: i64) -> (Vec<i64>, i64, i64) {
    let page = list(app, user, "?limit=200").await;
    let ids = page["notifications"].as_array().expect("list").iter().map(id_of).collect();
    (ids, page["total"].as_i64().expect("total"), page["unread_count"].as_i64().expect("unread"))
}

async fn read(app: &TestApp, user: i64, id: i64) {
    let (status, body) = app.post_empty(&format!("/auth/notifications/{id}/read/"), &token(user)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A REST create with an `Idempotency-Key`: status and body.
async fn create_with_key(app: &TestApp, user: i64, key: &str, title: &str) -> (StatusCode, Value) {
    let (status, _, body) = app
        .raw(
            Method::POST,
            "/auth/notifications/create/",
            &[
                ("Authorization", &format!("Bearer {}", token(user))),
                ("Content-Type", "application/json"),
                ("Idempotency-Key", key),
            ],
            json!({ "title": title }).to_string().into_bytes(),
        )
        .await;
    (status, body)
}

async fn oldest_read_ones_make_room(backend: Backend) {
    let app = capped(backend).await;
    let [a, b, c] = [create_id(&app, 1, "a").await, create_id(&app, 1, "b").await, create_id(&app, 1, "c").await];
    read(&app, 1, b).await;
    read(&app, 1, c).await;
    let (mut ws, hello) = WsClient::open(&app, &token(1)).await;
    assert_eq!(hello["unread_count"], 1);

    // Full (3 of 3): the oldest read one (b, not the older unread a) goes first.
    let d = create_id(&app, 1, "d").await;
    assert_eq!(inbox(&app, 1).await, (vec![d, c, a], 3, 2));
    assert_eq!(
        ws.next_json().await,
        json!({"type": "notification_deleted", "notification_id": b, "unread_count": 1, "unseen_count": 1})
    );
    let pushed = ws.next_of_type("notification").await;
    assert_eq!(id_of(&pushed["notification"]), d, "the deletion comes first, then the new one");

    // A keyed create makes room the same way.
    let (status, body) = create_with_key(&app, 1, "k-1", "e").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let e = id_of(&body["notification"]);
    assert_eq!(inbox(&app, 1).await, (vec![e, d, a], 3, 3));
    assert_eq!(
        ws.next_json().await,
        json!({"type": "notification_deleted", "notification_id": c, "unread_count": 2, "unseen_count": 2})
    );

    // Replay and `sync` skip the pruned ids: everything after b that still exists, in order.
    let mut resumed = WsClient::connect(&app, &token(1), Some(b)).await;
    assert_eq!(resumed.next_json().await["type"], "connection_established");
    let replayed = [resumed.next_json().await, resumed.next_json().await];
    assert_eq!(replayed.iter().map(|f| id_of(&f["notification"])).collect::<Vec<_>>(), vec![d, e]);
    assert_eq!(resumed.next_json().await, json!({"type": "sync_complete", "last_id": e}));
    resumed.send_json(json!({"type": "sync", "since": c, "request_id": 7})).await;
    assert_eq!(id_of(&resumed.next_json().await["notification"]), d);
    assert_eq!(id_of(&resumed.next_json().await["notification"]), e);
    assert_eq!(resumed.next_json().await, json!({"type": "sync_complete", "last_id": e, "request_id": 7}));
    // A pruned id is gone, as a deleted one.
    let (status, _) = app.post_empty(&format!("/auth/notifications/{b}/read/"), &token(1)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A broadcast makes room the same way, for each recipient at the cap.
    read(&app, 1, a).await;
    let (status, body) =
        app.post("/auth/notifications/broadcast/", &staff_token(9), json!({"user_ids": [6, 1], "title": "all"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((body["created"].as_i64(), body["inbox_full"].clone()), (Some(2), json!([])), "{body}");
    let cast = body["notification_ids"][0].as_i64().expect("user 1's id comes first");
    assert_eq!(inbox(&app, 1).await, (vec![cast, e, d], 3, 3));
    let deleted = ws.next_of_type("notification_deleted").await;
    assert_eq!(
        deleted,
        json!({"type": "notification_deleted", "notification_id": a, "unread_count": 2, "unseen_count": 2})
    );
    assert_eq!(id_of(&ws.next_json().await["notification"]), cast);
}

#[actix_web::test]
async fn at_the_cap_the_oldest_read_notification_is_pruned_and_the_create_is_201_on_postgres() {
    oldest_read_ones_make_room(Backend::Postgres).await;
}

#[actix_web::test]
async fn at_the_cap_the_oldest_read_notification_is_pruned_and_the_create_is_201_on_sqlite() {
    oldest_read_ones_make_room(Backend::Sqlite).await;
}

async fn a_full_inbox_refuses_every_create_and_loses_nothing(backend: Backend) {
    let app = capped(backend).await;
    let mine = [create_id(&app, 1, "a").await, create_id(&app, 1, "b").await, create_id(&app, 1, "c").await];
    let newest_first: Vec<i64> = mine.iter().rev().copied().collect();

    let (status, body) = app.post("/auth/notifications/create/", &token(1), json!({"title": "d"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("inbox_full")), "{body}");
    let (status, body) = app
        .post("/auth/notifications/create/", &staff_token(9), json!({"user_id": 1, "title": "from a service"}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("inbox_full")), "{body}");
    let (status, body) = create_with_key(&app, 1, "k-1", "keyed").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("inbox_full")), "{body}");

    let (mut ws, _) = WsClient::open(&app, &token(1)).await;
    ws.send_json(json!({"type": "send_notification", "user_id": 1, "title": "ws", "request_id": 3})).await;
    let refused = ws.next_json().await;
    assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("error"), Some("inbox_full")), "{refused}");
    assert_eq!(refused["request_id"], 3);

    let (status, body) = app
        .post("/auth/notifications/broadcast/", &staff_token(9), json!({"user_ids": [2, 1], "title": "to all"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((body["created"].as_i64(), body["inbox_full"].clone()), (Some(1), json!([1])), "{body}");
    assert_eq!(inbox(&app, 2).await.0.len(), 1, "the other recipient got it");

    assert_eq!(inbox(&app, 1).await, (newest_first.clone(), 3, 3), "nothing lost, nothing added");

    // Once one is read there is room: the same key is tried again, not answered 429 from it.
    read(&app, 1, mine[1]).await;
    let (status, body) = create_with_key(&app, 1, "k-1", "keyed").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let keyed = id_of(&body["notification"]);
    assert_eq!(inbox(&app, 1).await, (vec![keyed, mine[2], mine[0]], 3, 3));
}

#[actix_web::test]
async fn a_full_inbox_of_unread_answers_429_inbox_full_and_loses_nothing_on_postgres() {
    a_full_inbox_refuses_every_create_and_loses_nothing(Backend::Postgres).await;
}

#[actix_web::test]
async fn a_full_inbox_of_unread_answers_429_inbox_full_and_loses_nothing_on_sqlite() {
    a_full_inbox_refuses_every_create_and_loses_nothing(Backend::Sqlite).await;
}

/// Many creates in flight at once are stored by group commit, many per statement: one full
/// inbox among them refuses only its own creates.
async fn one_full_inbox_fails_only_its_own_creates_in_a_batch(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, &[("HERALD_MAX_STORED_PER_USER", "5"), ("HERALD_GROUP_COMMIT_WAIT_US", "20000")])
            .await;
    // User 1: full of unread. User 2: full of read ones. User 3: empty. User 4: 3 unread.
    for i in 0..5 {
        create_id(&app, 1, &format!("unread {i}")).await;
        let id = create_id(&app, 2, &format!("read {i}")).await;
        read(&app, 2, id).await;
    }
    for i in 0..3 {
        create_id(&app, 4, &format!("unread {i}")).await;
    }
    let staff = staff_token(9);
    let before = batches(&app).await;
    let creates = (0..16).map(|i| {
        let user = 1 + i % 4;
        let (app, staff) = (&app, &staff);
        async move {
            (
                user,
                app.post("/auth/notifications/create/", staff, json!({"user_id": user, "title": format!("#{i}")}))
                    .await,
            )
        }
    });
    let mut created = std::collections::BTreeMap::<i64, Vec<i64>>::new();
    let mut full = std::collections::BTreeMap::<i64, usize>::new();
    for (user, (status, body)) in futures_util::future::join_all(creates).await {
        match status {
            StatusCode::CREATED => created.entry(user).or_default().push(id_of(&body["notification"])),
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(body["error"]["code"], "inbox_full", "{body}");
                *full.entry(user).or_default() += 1;
            }
            other => panic!("user {user}: {other} {body}"),
        }
    }
    let after = batches(&app).await;
    assert!(after.0 - before.0 > after.1 - before.1, "some statement stored several creates: {before:?} {after:?}");
    assert_eq!(full.get(&1), Some(&4), "user 1's inbox is full of unread ones");
    assert_eq!(created.get(&1), None);
    assert_eq!(created.get(&2).map(Vec::len), Some(4), "user 2's read ones made room");
    assert_eq!(created.get(&3).map(Vec::len), Some(4));
    assert_eq!((created.get(&4).map(Vec::len), full.get(&4)), (Some(2), Some(&2)), "user 4 had room for 2");
    let (ids, total, unread) = inbox(&app, 2).await;
    assert_eq!((ids.len(), total, unread), (5, 5, 4), "4 new, the newest read one kept");
    assert!(created[&2].iter().all(|id| ids.contains(id)));
    for (user, expected) in [(1, (5, 5, 5)), (3, (4, 4, 4)), (4, (5, 5, 5))] {
        let (ids, total, unread) = inbox(&app, user).await;
        assert_eq!((ids.len() as i64, total, unread), expected, "user {user}");
    }
}

/// The group-commit histogram: (creates, batches) so far.
async fn batches(app: &TestApp) -> (f64, f64) {
    let text = app.metrics_text().await;
    let value = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    };
    (value("herald_group_commit_batch_size_sum"), value("herald_group_commit_batch_size_count"))
}

#[actix_web::test]
async fn group_commit_with_one_full_inbox_stores_the_others_on_postgres() {
    one_full_inbox_fails_only_its_own_creates_in_a_batch(Backend::Postgres).await;
}

#[actix_web::test]
async fn group_commit_with_one_full_inbox_stores_the_others_on_sqlite() {
    one_full_inbox_fails_only_its_own_creates_in_a_batch(Backend::Sqlite).await;
}
