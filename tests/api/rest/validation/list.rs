//! List: query parameters and pagination.

use super::{assert_validation, CREATE, LIST};
use crate::helpers::*;
use crate::on_both_backends;
use awc::http::StatusCode;
use serde_json::json;

#[actix_web::test]
async fn list_query_parameters_are_validated_not_clamped() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_for_self(1, "one").await;
    app.create_for_self(1, "two").await;
    let me = token(1);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("before=0", "before"),
        ("before=abc", "before"),
        ("before=-3", "before"),
        ("before=", "before"),
        ("unread=maybe", "unread"),
        ("type=alert", "type"),
        ("type=General", "type"),
        ("limit=2&type=alert", "type"),
    ] {
        let (status, body) = app.get(&format!("{LIST}?{query}"), &me).await;
        assert_validation(status, &body, field, query);
    }
    let page = list(&app, 1, "?limit=1").await;
    assert_eq!(page["notifications"].as_array().expect("array").len(), 1);
    assert_eq!(page["total"], 2);
    let page = list(&app, 1, "?limit=200").await;
    assert_eq!(page["notifications"].as_array().expect("array").len(), 2);
    assert_eq!(page["next_before"], json!(null));
    let page = list(&app, 1, "?limit=200&unread=true&type=general&before=999999").await;
    assert_eq!(page["total"], 2);
}

async fn create_typed(app: &TestApp, user: i64, kind: &str) -> i64 {
    let (status, body) = app.post(CREATE, &token(user), json!({"title": kind, "type": kind})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["notification"]["id"].as_i64().expect("id")
}

on_both_backends!(list_pagination_total_and_next_before, |app| {
    let n1 = create_typed(&app, 1, "general").await;
    create_typed(&app, 2, "general").await; // another user's row between user 1's ids
    let n2 = create_typed(&app, 1, "meeting").await;
    let n3 = create_typed(&app, 1, "general").await;
    let n4 = create_typed(&app, 1, "meeting").await;
    let n5 = create_typed(&app, 1, "general").await;
    for read in [n2, n5] {
        let (status, body) = app.post_empty(&format!("/auth/notifications/{read}/read/"), &token(1)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // (query, ids of the page, total, next_before)
    let cases: Vec<(String, Vec<i64>, i64, Option<i64>)> = vec![
        ("".into(), vec![n5, n4, n3, n2, n1], 5, None),
        ("?limit=2".into(), vec![n5, n4], 5, Some(n4)),
        (format!("?limit=2&before={n4}"), vec![n3, n2], 5, Some(n2)),
        (format!("?limit=2&before={n2}"), vec![n1], 5, None),
        (format!("?before={n1}"), vec![], 5, None),
        ("?limit=4".into(), vec![n5, n4, n3, n2], 5, Some(n2)),
        ("?limit=5".into(), vec![n5, n4, n3, n2, n1], 5, None),
        ("?unread=true".into(), vec![n4, n3, n1], 3, None),
        ("?unread=true&limit=2".into(), vec![n4, n3], 3, Some(n3)),
        (format!("?unread=true&limit=2&before={n3}"), vec![n1], 3, None),
        ("?type=meeting".into(), vec![n4, n2], 2, None),
        ("?type=meeting&limit=1".into(), vec![n4], 2, Some(n4)),
        (format!("?type=meeting&limit=1&before={n4}"), vec![n2], 2, None),
        ("?unread=true&type=meeting".into(), vec![n4], 1, None),
        (format!("?type=general&before={n3}"), vec![n1], 3, None),
        ("?type=approval".into(), vec![], 0, None),
    ];
    for (query, ids, total, next_before) in cases {
        let page = list(&app, 1, &query).await;
        assert_eq!(ids_of(&page), ids, "{query}: {page}");
        assert_eq!(page["total"], total, "{query}: total counts the whole filter");
        assert_eq!(page["unread_count"], 3, "{query}: unread_count is the user's whole unread count");
        assert_eq!(page["next_before"], json!(next_before), "{query}");
    }
    let page = list(&app, 1, "?limit=2").await;
    assert_eq!(page["notifications"][0]["is_read"], true);
    assert_eq!(page["notifications"][1]["is_read"], false);
    let other = list(&app, 2, "").await;
    assert_eq!(other["total"], 1);
});
