//! Broadcast: recipients.

use super::{assert_validation, BROADCAST};
use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::json;

#[actix_web::test]
async fn broadcast_user_ids_limits_and_duplicates() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let staff = staff_token(1000);
    for (case, user_ids) in [
        ("missing", None),
        ("empty", Some(json!([]))),
        ("not an array", Some(json!("5"))),
        ("10001 ids", Some(json!((1..=10_001).collect::<Vec<i64>>()))),
    ] {
        let mut body = json!({"title": "b"});
        if let Some(user_ids) = user_ids {
            body["user_ids"] = user_ids;
        }
        let (status, reply) = app.post(BROADCAST, &staff, body).await;
        assert_validation(status, &reply, "user_ids", case);
    }
    assert_eq!(unread_count(&app, 1).await, 0, "the refused 10001-id broadcast stored nothing");

    for (case, user_ids) in [
        ("a 0", json!([11, 12, 0])),
        ("a negative id", json!([11, -1, 12])),
        ("a non-digit string", json!([11, "abc", 12])),
        ("an id above i64", json!([11, 12, 9_223_372_036_854_775_808_u64])),
        ("a null", json!([11, null, 12])),
    ] {
        let (status, reply) = app.post(BROADCAST, &staff, json!({"title": "b", "user_ids": user_ids})).await;
        assert_validation(status, &reply, "user_ids", case);
    }
    assert_eq!(unread_count(&app, 11).await, 0, "nothing stored for the valid ids of a refused broadcast");
    assert_eq!(unread_count(&app, 12).await, 0, "nothing stored for the valid ids of a refused broadcast");

    let (status, reply) = app.post(BROADCAST, &staff, json!({"user_ids": [11, 12]})).await;
    assert_validation(status, &reply, "title", "broadcast without title");
    let (status, reply) = app.post(BROADCAST, &staff, json!({"user_ids": [11, 12], "title": "t", "link": "/x"})).await;
    assert_validation(status, &reply, "link", "broadcast with a relative link");
    assert_eq!(unread_count(&app, 11).await, 0);

    let (status, reply) = app.post(BROADCAST, &staff, json!({"title": "dupes", "user_ids": [5, 5, 6]})).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["created"], 2);
    assert_eq!(reply["suppressed"], 0);
    let ids: Vec<i64> = reply["notification_ids"]
        .as_array()
        .expect("notification_ids")
        .iter()
        .map(|v| v.as_i64().expect("id"))
        .collect();
    assert_eq!(ids.len(), 2);
    for user in [5, 6] {
        let page = list(&app, user, "").await;
        assert_eq!(page["total"], 1, "user {user}: one notification despite the duplicate");
        let id = page["notifications"][0]["id"].as_i64().expect("id");
        assert!(ids.contains(&id), "user {user}'s id {id} is among {ids:?}");
        assert_eq!(page["notifications"][0]["sender_id"], 1000);
    }
    let (status, reply) = app.post(BROADCAST, &staff, json!({"title": "same user", "user_ids": [7, "7"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["created"], 1, "7 and \"7\" are the same user");
}

#[actix_web::test]
async fn broadcast_to_exactly_10000_distinct_users() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let user_ids: Vec<i64> = (1..=10_000).collect();
    let (status, reply) =
        app.post(BROADCAST, &staff_token(1), json!({"title": "everyone", "user_ids": user_ids})).await;
    assert_eq!(status, StatusCode::CREATED, "{}", reply["error"]);
    assert_eq!(reply["created"], 10_000);
    assert_eq!(reply["suppressed"], 0);
    let ids: std::collections::HashSet<i64> = reply["notification_ids"]
        .as_array()
        .expect("notification_ids")
        .iter()
        .map(|v| v.as_i64().expect("id"))
        .collect();
    assert_eq!(ids.len(), 10_000, "10000 distinct notification ids");
    for user in [1, 5_000, 10_000] {
        assert_eq!(unread_count(&app, user).await, 1, "user {user}");
    }
    assert_eq!(unread_count(&app, 10_001).await, 0);
}
