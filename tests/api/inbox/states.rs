//! Seen, archived and snoozed over REST, with the counts (`unread_count`, `unseen_count`, list
//! `total`) exact after each step, and bad input refused naming its field, on both backends.

use super::LIST;
use crate::helpers::*;
use crate::on_both_backends;
use awc::http::StatusCode;
use serde_json::{json, Value};

const BULK: &str = "/auth/notifications/bulk/";

async fn post(app: &TestApp, user: i64, path: &str, body: Value) -> Value {
    let (status, reply) = app.post(path, &token(user), body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {reply}");
    reply
}

/// The counts a list reply and the unread-count endpoint give, which must agree.
async fn counts(app: &TestApp, user: i64) -> (i64, i64, i64) {
    let page = list(app, user, "").await;
    let (status, count) = app.get("/auth/notifications/unread-count/", &token(user)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (page["unread_count"].clone(), page["unseen_count"].clone()),
        (count["unread_count"].clone(), count["unseen_count"].clone())
    );
    let n = |v: &Value| v.as_i64().expect("a count");
    (n(&page["total"]), n(&page["unread_count"]), n(&page["unseen_count"]))
}

on_both_backends!(seen_archived_and_snoozed_keep_the_counts_exact, |app| {
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(create_id(&app, 1, &format!("n{n}")).await);
    }
    assert_eq!(counts(&app, 1).await, (4, 4, 4), "new notifications are unread and unseen");

    let seen = post(&app, 1, &format!("{LIST}{}/seen/", ids[0]), json!({})).await;
    assert_eq!((seen["action"].clone(), seen["changed"].clone()), (json!("seen"), json!(1)), "{seen}");
    assert_eq!(counts(&app, 1).await, (4, 4, 3));
    let again = post(&app, 1, &format!("{LIST}{}/seen/", ids[0]), json!({})).await;
    assert_eq!(again["changed"], 0, "seen twice changes nothing: {again}");
    let all_seen = post(&app, 1, "/auth/notifications/mark-all-seen/", json!({})).await;
    assert_eq!(all_seen["changed"], 3, "{all_seen}");
    assert_eq!(counts(&app, 1).await, (4, 4, 0));

    // Archive: read, out of the default list, listed with archived=true; unarchive brings it back.
    let archived = post(&app, 1, &format!("{LIST}{}/archive/", ids[1]), json!({})).await;
    assert_eq!((archived["unread_count"].clone(), archived["unseen_count"].clone()), (json!(3), json!(0)));
    assert_eq!(counts(&app, 1).await, (3, 3, 0));
    let shelf = list(&app, 1, "?archived=true").await;
    assert_eq!((ids_of(&shelf), shelf["total"].clone()), (vec![ids[1]], json!(1)), "{shelf}");
    assert!(shelf["notifications"][0]["archived_at"].is_string() && shelf["notifications"][0]["is_read"] == true);
    assert!(!ids_of(&list(&app, 1, "").await).contains(&ids[1]));
    post(&app, 1, &format!("{LIST}{}/unarchive/", ids[1]), json!({})).await;
    assert_eq!(counts(&app, 1).await, (4, 3, 0), "unarchived, it stays read");
    // Mark unread takes a notification out of the archive too.
    post(&app, 1, &format!("{LIST}{}/archive/", ids[2]), json!({})).await;
    let (status, unread) = app.post_empty(&format!("{LIST}{}/unread/", ids[2]), &token(1)).await;
    assert_eq!(status, StatusCode::OK, "{unread}");
    assert_eq!(
        (unread["notification"]["archived_at"].clone(), unread["unseen_count"].clone()),
        (Value::Null, json!(0))
    );
    assert_eq!(counts(&app, 1).await, (4, 3, 0), "unread again, and seen (it was)");

    // Snooze: hidden and read until then; listed with snoozed=true.
    let until = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let snoozed = post(&app, 1, &format!("{LIST}{}/snooze/", ids[3]), json!({"snooze_until": until})).await;
    assert_eq!(snoozed["changed"], 1, "{snoozed}");
    assert_eq!(counts(&app, 1).await, (3, 2, 0));
    let later = list(&app, 1, "?snoozed=true").await;
    assert_eq!(ids_of(&later), vec![ids[3]], "{later}");
    assert!(later["notifications"][0]["snoozed_until"].is_string(), "{later}");

    for (path, body, field) in [
        (format!("{LIST}{}/snooze/", ids[3]), json!({"snooze_until": "2020-01-01T00:00:00Z"}), "snooze_until"),
        (format!("{LIST}{}/snooze/", ids[3]), json!({}), "snooze_until"),
        (BULK.to_owned(), json!({"action": "explode", "ids": [1]}), "action"),
        (BULK.to_owned(), json!({"action": "archive", "ids": (1..=1001).collect::<Vec<i64>>()}), "ids"),
        (BULK.to_owned(), json!({"action": "archive", "ids": [1], "filter": {}}), "ids,filter"),
        (BULK.to_owned(), json!({"action": "archive", "filter": {"type": "alert"}}), "type"),
        (
            BULK.to_owned(),
            json!({"action": "archive", "filter": {"archived": true, "snoozed": true}}),
            "archived,snoozed",
        ),
    ] {
        let (status, reply) = app.post(&path, &token(1), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert_eq!(reply["error"]["field"], field, "{body}: {reply}");
    }
    let (status, _) = app.post(&format!("{LIST}{}/archive/", ids[0]), &token(2), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another user's notification is missing");
    let theirs = post(&app, 2, BULK, json!({"action": "delete", "ids": ids})).await;
    assert_eq!((theirs["changed"].clone(), theirs["unread_count"].clone()), (json!(0), json!(0)), "{theirs}");
    assert_eq!(counts(&app, 1).await, (3, 2, 0), "nothing of user 1 changed");
});

on_both_backends!(bulk_actions_by_ids_and_by_filter_change_what_they_name, |app| {
    let mut ids = Vec::new();
    for (n, kind) in ["meeting", "approval", "meeting", "general", "approval"].iter().enumerate() {
        let body = json!({"title": format!("b{n}"), "notification_type": kind, "data": {"project": n % 2}});
        let (status, made) = app.post("/auth/notifications/create/", &token(5), body).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        ids.push(id_of(&made["notification"]));
    }
    let read = post(&app, 5, BULK, json!({"action": "read", "ids": [ids[0], ids[1], 999_999]})).await;
    assert_eq!((read["changed"].clone(), read["unread_count"].clone()), (json!(2), json!(3)), "{read}");
    // Archive every read one: the usual "archive all read".
    let archived = post(&app, 5, BULK, json!({"action": "archive", "filter": {"read": true}})).await;
    assert_eq!(archived["changed"], 2, "{archived}");
    assert_eq!(ids_of(&list(&app, 5, "?archived=true").await), vec![ids[1], ids[0]]);
    let by_type = post(&app, 5, BULK, json!({"action": "seen", "filter": {"types": ["approval"]}})).await;
    assert_eq!((by_type["changed"].clone(), by_type["unseen_count"].clone()), (json!(1), json!(2)), "{by_type}");
    let older = post(&app, 5, BULK, json!({"action": "delete", "filter": {"before": ids[4]}})).await;
    assert_eq!(older["changed"], 2, "the visible ones below the newest: {older}");
    let page = list(&app, 5, "").await;
    assert_eq!((ids_of(&page), page["total"].clone()), (vec![ids[4]], json!(1)), "{page}");
    let unarchived = post(&app, 5, BULK, json!({"action": "unarchive", "filter": {"archived": true}})).await;
    assert_eq!(unarchived["changed"], 2, "{unarchived}");
    let page = list(&app, 5, "").await;
    assert_eq!((ids_of(&page), page["total"].clone()), (vec![ids[4], ids[1], ids[0]], json!(3)), "{page}");
    let until = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let snoozed = post(&app, 5, BULK, json!({"action": "snooze", "ids": [ids[4]], "snooze_until": until})).await;
    assert_eq!(snoozed["changed"], 1, "{snoozed}");
    let unread = post(&app, 5, BULK, json!({"action": "unread", "filter": {"snoozed": true}})).await;
    assert_eq!((unread["changed"].clone(), unread["unread_count"].clone()), (json!(1), json!(1)), "{unread}");
});

on_both_backends!(list_filters_combine_and_contradictions_name_both_fields, |app| {
    for (n, kind) in ["meeting", "approval", "general"].iter().enumerate() {
        let body =
            json!({"title": format!("f{n}"), "notification_type": kind, "data": {"project": 42 + n, "team": "core"}});
        let (status, made) = app.post("/auth/notifications/create/", &token(6), body).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
    }
    // Data jsonb cannot hold (an escaped NUL) is stored, and never matched by a data filter.
    let body = json!({"title": "nul", "data": {"note": "a\u{0}b"}});
    let (status, nul) = app.post("/auth/notifications/create/", &token(6), body).await;
    assert_eq!(status, StatusCode::CREATED, "{nul}");
    let titles = |page: &Value| -> Vec<String> {
        page["notifications"]
            .as_array()
            .expect("list")
            .iter()
            .map(|n| n["title"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let both = list(&app, 6, "?types=meeting,approval").await;
    assert_eq!((titles(&both), both["total"].clone()), (vec!["f1".to_owned(), "f0".to_owned()], json!(2)));
    let contained = list(&app, 6, "?data=%7B%22project%22%3A43%7D").await;
    assert_eq!(titles(&contained), ["f1"], "{contained}");
    let team = list(&app, 6, "?data=%7B%22team%22%3A%22core%22%7D&type=general").await;
    assert_eq!(titles(&team), ["f2"], "{team}");
    let (status, _) = app.delete(&format!("{LIST}{}/delete/", id_of(&nul["notification"])), &token(6)).await;
    assert_eq!(status, StatusCode::OK);
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339().replace('+', "%2B");
    assert_eq!(list(&app, 6, &format!("?created_after={hour_ago}&seen=false")).await["total"], 3);
    assert_eq!(list(&app, 6, &format!("?created_before={hour_ago}")).await["total"], 0);
    for (query, field) in [
        ("?unread=true&read=true", "unread,read"),
        ("?read=true&seen=false", "read,seen"),
        ("?data=%5B1%5D", "data"),
        ("?types=meeting,alert", "type"),
        ("?archived=maybe", "archived"),
    ] {
        let (status, reply) = app.get(&format!("{LIST}{query}"), &token(6)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {reply}");
        assert_eq!(reply["error"]["field"], field, "{query}: {reply}");
    }
});
