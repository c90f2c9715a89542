//! Group commit: many concurrent creates share transactions, and each caller still gets its
//! own outcome — its own notification, or its own suppression.

use crate::helpers::*;
use crate::on_both_backends;
use awc::http::StatusCode;
use futures_util::future::join_all;
use serde_json::json;

on_both_backends!(concurrent_creates_each_get_their_own_outcome, |app| {
    let (status, _) = app
        .put("/auth/notifications/preferences/", &token(1), json!({"preferences": {"meeting": {"enabled": false}}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let staff = staff_token(99);
    let requests = (0..60).map(|i| {
        let user = 1 + i % 3;
        let kind = if i % 2 == 0 { "meeting" } else { "general" };
        let body = json!({"user_id": user, "title": format!("create #{i}"), "type": kind});
        let (app, staff) = (&app, &staff);
        async move { (i, user, kind, app.post("/auth/notifications/create/", staff, body).await) }
    });
    let mut created_per_user = std::collections::HashMap::<i64, Vec<i64>>::new();
    for (i, user, kind, (status, body)) in join_all(requests).await {
        if user == 1 && kind == "meeting" {
            assert_eq!(
                (status, body),
                (StatusCode::OK, json!({"suppressed": true, "reason": "preference"})),
                "create #{i}"
            );
        } else {
            assert_eq!(status, StatusCode::CREATED, "create #{i}: {body}");
            assert_eq!(body["notification"]["title"], format!("create #{i}"), "each caller gets its own row");
            assert_eq!(body["notification"]["user_id"], user);
            assert_eq!(body["notification"]["notification_type"], kind);
            created_per_user.entry(user).or_default().push(body["notification"]["id"].as_i64().expect("id"));
        }
    }
    for (user, mut ids) in created_per_user {
        let (_, list) = app.get("/auth/notifications/?limit=200", &token(user)).await;
        let mut listed: Vec<i64> =
            list["notifications"].as_array().expect("list").iter().map(|n| n["id"].as_i64().expect("id")).collect();
        listed.sort_unstable();
        ids.sort_unstable();
        assert_eq!(listed, ids, "user {user}: exactly the acknowledged creates are stored");
        assert_eq!(list["unread_count"], ids.len(), "user {user}: counter exact");
    }
});
