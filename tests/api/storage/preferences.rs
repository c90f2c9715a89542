//! Preferences suppress storage or live push per notification type.

use super::{frame, next_event};
use crate::helpers::*;
use crate::on_both_backends;
use awc::http::StatusCode;
use herald::event::Event;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::broadcast;

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

on_both_backends!(preferences_suppress_storage_or_live_push_per_type, |app| {
    const USER: i64 = 50;
    let me = token(USER);
    let mut expected: BTreeMap<String, Value> =
        NOTIFICATION_TYPES.iter().map(|t| ((*t).to_owned(), json!({"enabled": true, "realtime": true}))).collect();

    let (status, prefs) = app.get("/auth/notifications/preferences/", &me).await;
    assert_eq!(status, StatusCode::OK, "{prefs}");
    assert_eq!(prefs, json!({ "preferences": expected, "categories": {} }), "all eight types on by default");

    let mut rx = app.broker.subscribe();

    let (status, prefs) =
        app.put("/auth/notifications/preferences/", &me, json!({"preferences": {"general": {"enabled": false}}})).await;
    assert_eq!(status, StatusCode::OK, "{prefs}");
    expected.insert("general".into(), json!({"enabled": false, "realtime": true}));
    assert_eq!(prefs, json!({ "preferences": expected, "categories": {} }));
    assert_eq!(
        app.get("/auth/notifications/preferences/", &me).await.1,
        json!({ "preferences": expected, "categories": {} })
    );

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
    assert_eq!(prefs, json!({ "preferences": expected, "categories": {} }));
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
