//! Every validation limit of SPEC §3/§4 over REST, on both sides of each boundary: create
//! fields, list query parameters and pagination, broadcast recipients, request bodies (JSON,
//! Content-Type, size limits), routes (404/405, trailing slashes, JSON errors) and preference
//! updates. Each rejection is checked for its status and its error envelope, and for having
//! stored nothing.

use crate::helpers::*;
use crate::on_both_backends;
use awc::http::header::{HeaderMap, CONTENT_TYPE};
use awc::http::{Method, StatusCode};
use serde_json::{json, Value};

const CREATE: &str = "/auth/notifications/create/";
const LIST: &str = "/auth/notifications/";
const BROADCAST: &str = "/auth/notifications/broadcast/";
const PREFERENCES: &str = "/auth/notifications/preferences/";

/// A 400 `validation_error` naming `field`.
fn assert_validation(status: StatusCode, body: &Value, field: &str, case: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
    assert_eq!(body["error"]["code"], "validation_error", "{case}: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: {body}");
    assert_eq!(body["error"]["field"], field, "{case}: {body}");
}

/// An error response: the status, the JSON Content-Type and the envelope with `code`.
fn assert_error(status: StatusCode, headers: &HeaderMap, body: &Value, expected: StatusCode, code: &str, case: &str) {
    assert_eq!(status, expected, "{case}: {body}");
    assert_json_content_type(headers, case);
    assert_eq!(body["error"]["code"], code, "{case}: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: {body}");
}

fn assert_json_content_type(headers: &HeaderMap, case: &str) {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("application/json"), "{case}: Content-Type is {content_type:?}");
}

async fn create_ok(app: &TestApp, body: Value, case: &str) -> Value {
    let (status, reply) = app.post(CREATE, &token(1), body).await;
    assert_eq!(status, StatusCode::CREATED, "{case}: {reply}");
    reply["notification"].clone()
}

async fn create_rejected(app: &TestApp, body: Value, field: &str, case: &str) {
    let (status, reply) = app.post(CREATE, &token(1), body).await;
    assert_validation(status, &reply, field, case);
}

/// Sends `body` as is, with a bearer token and the given Content-Type (none when `None`).
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, HeaderMap, Value) {
    let authorization = format!("Bearer {bearer}");
    let mut headers = vec![("Authorization", authorization.as_str())];
    if let Some(content_type) = content_type {
        headers.push(("Content-Type", content_type));
    }
    app.raw(method, path, &headers, body).await
}

/// `value` serialized and padded with trailing JSON whitespace to exactly `len` bytes.
fn padded_json(value: &Value, len: usize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).expect("serializes");
    assert!(bytes.len() <= len, "{} bytes do not fit in {len}", bytes.len());
    bytes.resize(len, b' ');
    bytes
}

// ---------------------------------------------------------------------------------------------
// Create: field limits

on_both_backends!(create_title_is_1_to_200_characters_after_trimming, |app| {
    let title = "é".repeat(200);
    assert_eq!(title.len(), 400, "200 characters, 400 bytes");
    let n = create_ok(&app, json!({ "title": title }), "200 × é").await;
    assert_eq!(n["title"], title);
    let n = create_ok(&app, json!({ "title": format!("  {title}\n") }), "200 × é inside whitespace").await;
    assert_eq!(n["title"], title, "stored trimmed");
    create_ok(&app, json!({"title": "x"}), "one character").await;

    create_rejected(&app, json!({ "title": "é".repeat(201) }), "title", "201 × é").await;
    create_rejected(&app, json!({ "title": "x".repeat(201) }), "title", "201 × x").await;
    create_rejected(&app, json!({"title": "   "}), "title", "blank").await;
    create_rejected(&app, json!({"title": ""}), "title", "empty").await;
    create_rejected(&app, json!({"message": "no title"}), "title", "missing").await;
    create_rejected(&app, json!({"title": null}), "title", "null").await;
    for not_a_string in [json!(5), json!(true), json!(["t"]), json!({"t": 1})] {
        create_rejected(&app, json!({ "title": not_a_string }), "title", &format!("title {not_a_string}")).await;
    }
    let page = list(&app, 1, "").await;
    assert_eq!(page["total"], 3, "rejected creates stored nothing: {page}");
});

on_both_backends!(create_message_is_at_most_5000_characters, |app| {
    let message = "é".repeat(5000);
    let n = create_ok(&app, json!({ "title": "t", "message": message }), "5000 × é").await;
    assert_eq!(n["message"], message);
    let n = create_ok(&app, json!({"title": "t"}), "no message").await;
    assert_eq!(n["message"], "");
    create_rejected(&app, json!({ "title": "t", "message": "é".repeat(5001) }), "message", "5001 × é").await;
    create_rejected(&app, json!({ "title": "t", "message": "m".repeat(5001) }), "message", "5001 × m").await;
    create_rejected(&app, json!({"title": "t", "message": 5}), "message", "number").await;
    assert_eq!(list(&app, 1, "").await["total"], 2);
});

on_both_backends!(create_data_is_an_object_of_at_most_16_kib_serialized, |app| {
    const MAX: usize = 16 * 1024;
    // {"k":"…"} is 8 bytes of framing.
    let exact = json!({ "k": "x".repeat(MAX - 8) });
    assert_eq!(serde_json::to_string(&exact).expect("serializes").len(), MAX);
    let n = create_ok(&app, json!({ "title": "t", "data": exact }), "16384 bytes").await;
    assert_eq!(n["data"], exact);
    let n = create_ok(&app, json!({"title": "t", "data": null}), "null data").await;
    assert_eq!(n["data"], json!({}));
    let n = create_ok(&app, json!({"title": "t"}), "no data").await;
    assert_eq!(n["data"], json!({}));
    let nested = json!({"task_id": 123, "tags": ["a", "b"], "meta": {"ok": true, "none": null}});
    let n = create_ok(&app, json!({ "title": "t", "data": nested }), "nested data").await;
    assert_eq!(n["data"], nested);

    let over = json!({ "k": "x".repeat(MAX - 7) });
    create_rejected(&app, json!({ "title": "t", "data": over }), "data", "16385 bytes").await;
    for not_an_object in [json!([1, 2]), json!([]), json!("{}"), json!(7), json!(true)] {
        create_rejected(&app, json!({ "title": "t", "data": not_an_object }), "data", &format!("data {not_an_object}"))
            .await;
    }
    let page = list(&app, 1, "").await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["notifications"][3]["data"], exact, "stored as sent");
});

on_both_backends!(create_link_is_an_absolute_http_url_of_at_most_2048_characters, |app| {
    let prefix = "https://example.com/";
    let exact = format!("{prefix}{}", "a".repeat(2048 - prefix.len()));
    assert_eq!(exact.chars().count(), 2048);
    let n = create_ok(&app, json!({ "title": "t", "link": exact }), "2048 characters").await;
    assert_eq!(n["link"], exact);
    let n = create_ok(&app, json!({"title": "t", "link": null}), "null link").await;
    assert_eq!(n["link"], json!(null));
    let n = create_ok(&app, json!({"title": "t"}), "no link").await;
    assert_eq!(n["link"], json!(null));
    create_ok(&app, json!({"title": "t", "link": "http://example.com"}), "plain http").await;

    create_rejected(&app, json!({ "title": "t", "link": format!("{exact}a") }), "link", "2049 characters").await;
    for bad in
        ["ftp://x", "ftp://example.com/file", "/relative", "relative/path", "javascript:alert(1)", "https://", ""]
    {
        create_rejected(&app, json!({ "title": "t", "link": bad }), "link", &format!("link {bad:?}")).await;
    }
    create_rejected(&app, json!({"title": "t", "link": 5}), "link", "link not a string").await;
    assert_eq!(list(&app, 1, "").await["total"], 4);
});

on_both_backends!(create_type_and_user_id_rules, |app| {
    let n = create_ok(&app, json!({"title": "t"}), "default type").await;
    assert_eq!(n["notification_type"], "general");
    for kind in NOTIFICATION_TYPES {
        let n = create_ok(&app, json!({"title": "t", "type": kind}), kind).await;
        assert_eq!(n["notification_type"], kind);
    }
    let n = create_ok(&app, json!({"title": "t", "notification_type": "mom_created"}), "notification_type").await;
    assert_eq!(n["notification_type"], "mom_created");
    let both = json!({"title": "t", "type": "meeting", "notification_type": "meeting"});
    let n = create_ok(&app, both, "type and notification_type equal").await;
    assert_eq!(n["notification_type"], "meeting");

    create_rejected(&app, json!({"title": "t", "type": "alert"}), "type", "unknown type").await;
    create_rejected(&app, json!({"title": "t", "type": "General"}), "type", "type is case-sensitive").await;
    create_rejected(&app, json!({"title": "t", "type": 3}), "type", "type not a string").await;
    create_rejected(&app, json!({"title": "t", "notification_type": "alert"}), "notification_type", "unknown").await;
    let differing = json!({"title": "t", "type": "meeting", "notification_type": "general"});
    create_rejected(&app, differing, "type", "type and notification_type differ").await;

    for bad in [json!(0), json!(-1), json!("abc"), json!(9_223_372_036_854_775_808_u64), json!(1.5), json!("")] {
        create_rejected(&app, json!({ "title": "t", "user_id": bad }), "user_id", &format!("user_id {bad}")).await;
    }
    assert_eq!(list(&app, 1, "").await["total"], 11);
});

on_both_backends!(approval_fields_are_folded_into_data, |app| {
    let body = json!({
        "title": "Leave approved", "type": "approval", "data": {"x": 1},
        "form_type": "leave", "item_id": 9, "approved": true,
    });
    let first = create_ok(&app, body, "approval with data").await;
    assert_eq!(first["notification_type"], "approval");
    assert_eq!(first["data"], json!({"x": 1, "form_type": "leave", "item_id": 9, "approved": true}));
    let body = json!({"title": "Expense rejected", "type": "approval", "form_type": "expense", "item_id": "INV-9", "approved": false});
    let second = create_ok(&app, body, "approval without data, string item_id").await;
    assert_eq!(second["data"], json!({"form_type": "expense", "item_id": "INV-9", "approved": false}));

    for (field, bad) in [
        ("approved", json!("yes")),
        ("approved", json!(1)),
        ("form_type", json!(5)),
        ("item_id", json!(true)),
        ("item_id", json!(1.5)),
    ] {
        let mut body = json!({"title": "t", "type": "approval", "form_type": "leave", "item_id": 1, "approved": true});
        body[field] = bad.clone();
        create_rejected(&app, body, field, &format!("{field} {bad}")).await;
    }
    let page = list(&app, 1, "").await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["notifications"], json!([second, first]), "stored folded, as replied");
});

// U+0000 is valid in a JSON string. A title, message or link holding one must be stored as sent
// or refused as a validation error naming the field, the same on both backends; never a 500.
on_both_backends!(nul_characters_are_stored_or_refused, |app| {
    for (field, body) in [
        ("title", json!({"title": "a\u{0}b"})),
        ("message", json!({"title": "t", "message": "a\u{0}b"})),
        ("link", json!({"title": "t", "link": "https://example.com/a\u{0}b"})),
        ("data", json!({"title": "t", "data": {"k\u{0}": "a\u{0}b"}})),
    ] {
        let (status, reply) = app.post(CREATE, &token(1), body.clone()).await;
        match status {
            StatusCode::CREATED => assert_eq!(reply["notification"][field], body[field], "{field} stored as sent"),
            StatusCode::BAD_REQUEST => assert_validation(status, &reply, field, field),
            _ => panic!("{field} holding U+0000: {status} {reply}"),
        }
    }
});

// ---------------------------------------------------------------------------------------------
// List: query parameters and pagination

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

// ---------------------------------------------------------------------------------------------
// Broadcast: recipients

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

// ---------------------------------------------------------------------------------------------
// Bodies: JSON, Content-Type and size limits

#[actix_web::test]
async fn malformed_json_bodies_are_400_invalid_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let me = token(1);
    let staff = staff_token(1);
    for (path, method, bearer) in
        [(CREATE, Method::POST, &me), (BROADCAST, Method::POST, &staff), (PREFERENCES, Method::PUT, &me)]
    {
        for (case, body) in [
            ("truncated", r#"{"title":"#),
            ("array", r#"[{"title":"t"}]"#),
            ("string", r#""title""#),
            ("null", "null"),
            ("number", "42"),
            ("trailing garbage", r#"{"title":"t"} x"#),
            ("single quotes", "{'title':'t'}"),
            ("empty", ""),
        ] {
            let case = format!("{method} {path} {case}");
            let (status, headers, reply) =
                send_raw(&app, method.clone(), path, bearer, Some("application/json"), body.as_bytes().to_vec()).await;
            assert_error(status, &headers, &reply, StatusCode::BAD_REQUEST, "invalid_json", &case);
        }
    }
    assert_eq!(unread_count(&app, 1).await, 0);
}

#[actix_web::test]
async fn bodies_must_be_sent_as_application_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let me = token(1);
    let body = || br#"{"title":"t","user_ids":[1],"preferences":{}}"#.to_vec();
    for (path, method) in [(CREATE, Method::POST), (BROADCAST, Method::POST), (PREFERENCES, Method::PUT)] {
        for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
            let case = format!("{method} {path} with Content-Type {content_type:?}");
            let bearer = if path == BROADCAST { staff_token(1) } else { me.clone() };
            let (status, headers, reply) = send_raw(&app, method.clone(), path, &bearer, content_type, body()).await;
            assert_error(status, &headers, &reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", &case);
        }
    }
    assert_eq!(unread_count(&app, 1).await, 0);
    let (status, _, reply) =
        send_raw(&app, Method::POST, CREATE, &me, Some("application/json; charset=utf-8"), body()).await;
    assert_eq!(status, StatusCode::CREATED, "charset parameter is fine: {reply}");
}

#[actix_web::test]
async fn rest_bodies_are_limited_to_64_kib() {
    const LIMIT: usize = 64 * 1024;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let me = token(1);
    let json = Some("application/json");

    let exact = padded_json(&json!({"title": "exactly 64 KiB"}), LIMIT);
    let (status, _, reply) = send_raw(&app, Method::POST, CREATE, &me, json, exact).await;
    assert_eq!(status, StatusCode::CREATED, "a 65536-byte body is accepted: {reply}");

    let over = padded_json(&json!({"title": "one byte over"}), LIMIT + 1);
    let (status, headers, reply) = send_raw(&app, Method::POST, CREATE, &me, json, over).await;
    assert_error(status, &headers, &reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "65537 bytes");

    // Valid JSON whose message is far too long: the size limit answers before validation.
    let framing = json!({"title": "t", "message": ""}).to_string().len();
    let long_message = json!({"title": "t", "message": "m".repeat(LIMIT + 1 - framing)});
    let long_message = serde_json::to_vec(&long_message).expect("serializes");
    assert_eq!(long_message.len(), LIMIT + 1);
    let (status, headers, reply) = send_raw(&app, Method::POST, CREATE, &me, json, long_message).await;
    assert_error(status, &headers, &reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "long message");

    // Without Content-Length (chunked), the limit holds while reading.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        (0..=LIMIT / 4096).map(|_| Ok(bytes::Bytes::from(vec![b' '; 4096]))).collect();
    let mut response = app
        .client
        .post(app.url(CREATE))
        .bearer_auth(&me)
        .insert_header(("Content-Type", "application/json"))
        .send_stream(futures_util::stream::iter(chunks))
        .await
        .expect("request reaches the node");
    let reply = parse_body(&response.body().await.expect("response body"));
    assert_error(
        response.status(),
        response.headers(),
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "chunked body over 64 KiB",
    );

    let preferences = padded_json(&json!({"preferences": {"general": {"enabled": false}}}), LIMIT + 1);
    let (status, headers, reply) = send_raw(&app, Method::PUT, PREFERENCES, &me, json, preferences).await;
    assert_error(status, &headers, &reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "preferences");
    let (_, prefs) = app.get(PREFERENCES, &me).await;
    assert_eq!(prefs["preferences"]["general"]["enabled"], true, "the refused PUT changed nothing");

    assert_eq!(unread_count(&app, 1).await, 1, "only the 64 KiB create was stored");
}

#[actix_web::test]
async fn broadcast_bodies_are_limited_to_1_mib() {
    const LIMIT: usize = 1024 * 1024;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let staff = staff_token(1);
    let json = Some("application/json");
    let body = json!({"title": "big body", "user_ids": [5, 6]});

    for (case, len) in [("200 KiB", 200 * 1024), ("exactly 1 MiB", LIMIT)] {
        let (status, _, reply) = send_raw(&app, Method::POST, BROADCAST, &staff, json, padded_json(&body, len)).await;
        assert_eq!(status, StatusCode::CREATED, "{case}: {reply}");
        assert_eq!(reply["created"], 2, "{case}");
    }
    let (status, headers, reply) =
        send_raw(&app, Method::POST, BROADCAST, &staff, json, padded_json(&body, LIMIT + 1)).await;
    assert_error(status, &headers, &reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "1 MiB + 1 byte");
    assert_eq!(unread_count(&app, 5).await, 2, "the oversized broadcast stored nothing");
}

// ---------------------------------------------------------------------------------------------
// Routes

/// A client that reports redirects instead of following them.
fn no_redirect_client() -> awc::Client {
    awc::Client::builder().disable_redirects().timeout(WAIT).finish()
}

async fn call_without_redirects(
    client: &awc::Client,
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let request = client.request(method, app.url(path)).bearer_auth(bearer);
    let mut response = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    }
    .expect("request reaches the node");
    let bytes = response.body().limit(16 * 1024 * 1024).await.expect("response body");
    (response.status(), response.headers().clone(), parse_body(&bytes))
}

#[actix_web::test]
async fn every_route_answers_with_and_without_its_trailing_slash() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = no_redirect_client();
    let (me, staff) = (token(1), staff_token(1));
    let (me, staff) = (me.as_str(), staff.as_str());
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(app.create_for_self(1, "route").await["id"].as_i64().expect("id"));
    }
    for (slash, id) in [("/", ids[0]), ("", ids[1])] {
        let routes: Vec<(Method, String, &str, Option<Value>, StatusCode)> = vec![
            (Method::GET, "/auth/notifications".into(), me, None, StatusCode::OK),
            (Method::POST, "/auth/notifications/create".into(), me, Some(json!({"title": "t"})), StatusCode::CREATED),
            (Method::POST, format!("/auth/notifications/{id}/read"), me, None, StatusCode::OK),
            (Method::POST, format!("/auth/notifications/{id}/unread"), me, None, StatusCode::OK),
            (Method::POST, "/auth/notifications/mark-all-read".into(), me, None, StatusCode::OK),
            (Method::DELETE, format!("/auth/notifications/{id}/delete"), me, None, StatusCode::OK),
            (Method::GET, "/auth/notifications/unread-count".into(), me, None, StatusCode::OK),
            (Method::GET, "/auth/notifications/preferences".into(), me, None, StatusCode::OK),
            (
                Method::PUT,
                "/auth/notifications/preferences".into(),
                me,
                Some(json!({"preferences": {"general": {"realtime": true}}})),
                StatusCode::OK,
            ),
            (
                Method::POST,
                "/auth/notifications/broadcast".into(),
                staff,
                Some(json!({"title": "b", "user_ids": [2]})),
                StatusCode::CREATED,
            ),
        ];
        assert_eq!(routes.len(), 10);
        for (method, path, bearer, body, expected) in routes {
            let path = format!("{path}{slash}");
            let (status, headers, reply) =
                call_without_redirects(&client, &app, method.clone(), &path, bearer, body).await;
            assert!(!status.is_redirection(), "{method} {path} redirects: {status}");
            assert_eq!(status, expected, "{method} {path}: {reply}");
            assert_json_content_type(&headers, &format!("{method} {path}"));
        }
    }
}

#[actix_web::test]
async fn unknown_paths_and_wrong_methods_are_json_errors() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = no_redirect_client();
    let me = token(1);
    for path in [
        "/nope",
        "/nope/",
        "/auth/notifications/abc/read/",
        "/auth/notifications/0/read/",
        "/auth/notifications/-1/unread/",
        "/auth/notifications/99999999999999999999/read/",
        "/auth/notifications/1/read/extra/",
        "/auth/notifications/mark-all-read//",
    ] {
        let method = if path.starts_with("/nope") { Method::GET } else { Method::POST };
        let (status, headers, body) = call_without_redirects(&client, &app, method, path, &me, None).await;
        assert_error(status, &headers, &body, StatusCode::NOT_FOUND, "not_found", path);
    }
    let (status, headers, body) = app.raw(Method::GET, "/nope", &[], Vec::new()).await;
    assert_error(status, &headers, &body, StatusCode::NOT_FOUND, "not_found", "/nope without a token");

    for (method, path) in [
        (Method::GET, "/auth/notifications/create/"),
        (Method::GET, "/auth/notifications/create"),
        (Method::POST, "/auth/notifications/"),
        (Method::DELETE, "/auth/notifications/unread-count/"),
        (Method::POST, "/auth/notifications/preferences/"),
        (Method::GET, "/auth/notifications/broadcast/"),
        (Method::GET, "/auth/notifications/1/read/"),
        (Method::POST, "/auth/notifications/1/delete/"),
        (Method::GET, "/auth/notifications/mark-all-read"),
    ] {
        let case = format!("{method} {path}");
        let (status, headers, body) = call_without_redirects(&client, &app, method, path, &me, None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{case}: {body}");
        assert_json_content_type(&headers, &case);
        assert!(body["error"]["code"].as_str().is_some_and(|c| !c.is_empty()), "{case}: {body}");
        assert!(body["error"]["message"].is_string(), "{case}: {body}");
    }
}

#[actix_web::test]
async fn a_405_names_the_allowed_methods() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let me = token(1);
    for (method, path, allowed) in [
        (Method::GET, "/auth/notifications/create/", vec!["POST"]),
        (Method::POST, "/auth/notifications/preferences/", vec!["GET", "PUT"]),
        (Method::GET, "/auth/notifications/1/delete/", vec!["DELETE"]),
    ] {
        let (status, headers, body) =
            app.raw(method.clone(), path, &[("Authorization", &format!("Bearer {me}"))], Vec::new()).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {body}");
        let allow = headers.get("allow").and_then(|v| v.to_str().ok()).unwrap_or("");
        for expected in allowed {
            assert!(allow.split(',').any(|m| m.trim() == expected), "{method} {path}: Allow is {allow:?}");
        }
    }
}

/// One request expected to fail: what is sent, and the status and code expected back.
struct ErrorCase<'a> {
    case: &'a str,
    method: Method,
    path: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
    status: StatusCode,
    code: &'a str,
}

fn case<'a>(
    case: &'a str,
    method: Method,
    path: &'a str,
    headers: &[(&'a str, &'a str)],
    body: &'a [u8],
    status: StatusCode,
    code: &'a str,
) -> ErrorCase<'a> {
    ErrorCase { case, method, path, headers: headers.to_vec(), body, status, code }
}

#[actix_web::test]
async fn every_kind_of_error_response_is_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let bearer = format!("Bearer {}", token(1));
    let json_headers = vec![("Authorization", bearer.as_str()), ("Content-Type", "application/json")];
    let too_large = padded_json(&json!({"title": "t"}), 64 * 1024 + 1);
    let cases = [
        case("validation", Method::POST, CREATE, &json_headers, b"{}", StatusCode::BAD_REQUEST, "validation_error"),
        case("invalid json", Method::POST, CREATE, &json_headers, b"{", StatusCode::BAD_REQUEST, "invalid_json"),
        case("no token", Method::GET, LIST, &[], b"", StatusCode::UNAUTHORIZED, "unauthorized"),
        case(
            "bad token",
            Method::GET,
            LIST,
            &[("Authorization", "Bearer x.y.z")],
            b"",
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        case(
            "forbidden",
            Method::POST,
            BROADCAST,
            &json_headers,
            br#"{"title":"t","user_ids":[2]}"#,
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        case(
            "missing id",
            Method::POST,
            "/auth/notifications/424242/read/",
            &json_headers,
            b"",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        case("unknown path", Method::GET, "/auth/nope/", &[], b"", StatusCode::NOT_FOUND, "not_found"),
        case(
            "bad list query",
            Method::GET,
            "/auth/notifications/?limit=0",
            &json_headers,
            b"",
            StatusCode::BAD_REQUEST,
            "validation_error",
        ),
        case(
            "too large",
            Method::POST,
            CREATE,
            &json_headers,
            &too_large,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        case(
            "text/plain",
            Method::POST,
            CREATE,
            &[("Authorization", bearer.as_str()), ("Content-Type", "text/plain")],
            b"{}",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for ErrorCase { case, method, path, headers, body, status, code } in cases {
        let (actual, reply_headers, reply) = app.raw(method, path, &headers, body.to_vec()).await;
        assert_error(actual, &reply_headers, &reply, status, code, case);
    }
}

// ---------------------------------------------------------------------------------------------
// Preferences

fn assert_all_types(preferences: &Value, case: &str) {
    let map = preferences.as_object().expect("preferences object");
    assert_eq!(map.len(), 8, "{case}: {preferences}");
    for kind in NOTIFICATION_TYPES {
        let entry = &preferences[kind];
        assert!(entry["enabled"].is_boolean() && entry["realtime"].is_boolean(), "{case}: {kind} in {preferences}");
    }
}

on_both_backends!(preferences_put_is_partial_and_all_or_nothing, |app| {
    let me = token(1);
    let (status, initial) = app.get(PREFERENCES, &me).await;
    assert_eq!(status, StatusCode::OK, "{initial}");
    assert_all_types(&initial["preferences"], "defaults");
    for kind in NOTIFICATION_TYPES {
        assert_eq!(initial["preferences"][kind], json!({"enabled": true, "realtime": true}), "{kind} defaults on");
    }

    let (status, reply) = app.put(PREFERENCES, &me, json!({"preferences": {"meeting": {"realtime": false}}})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_all_types(&reply["preferences"], "after a partial PUT");
    let mut expected = initial["preferences"].clone();
    expected["meeting"] = json!({"enabled": true, "realtime": false});
    assert_eq!(reply["preferences"], expected, "only meeting.realtime changed");
    let (_, now) = app.get(PREFERENCES, &me).await;
    assert_eq!(now["preferences"], expected, "GET shows the PUT");

    let (status, reply) = app.put(PREFERENCES, &me, json!({"preferences": {"meeting": {"enabled": false}}})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    expected["meeting"] = json!({"enabled": false, "realtime": false});
    assert_eq!(reply["preferences"], expected, "realtime kept its value when only enabled was given");
    let (status, reply) = app.put(PREFERENCES, &me, json!({"preferences": {}})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["preferences"], expected, "an empty PUT changes nothing");

    // Each bad PUT also carries valid changes, before and after the bad entry in any key order.
    let bad_puts = [
        (
            "unknown type",
            json!({"preferences": {"action_item": {"enabled": false}, "alert": {"enabled": false}, "mom_created": {"realtime": false}}}),
        ),
        (
            "non-object entry",
            json!({"preferences": {"action_item": {"enabled": false}, "general": true, "mom_created": {"realtime": false}}}),
        ),
        (
            "non-boolean value",
            json!({"preferences": {"action_item": {"enabled": false}, "general": {"enabled": "no"}, "mom_created": {"realtime": false}}}),
        ),
        (
            "null value",
            json!({"preferences": {"action_item": {"enabled": false}, "general": {"realtime": null}, "mom_created": {"realtime": false}}}),
        ),
        (
            "unknown field",
            json!({"preferences": {"action_item": {"enabled": false}, "general": {"realtime": false, "email": false}, "mom_created": {"realtime": false}}}),
        ),
        ("preferences not an object", json!({"preferences": [{"general": {"enabled": false}}]})),
        ("preferences missing", json!({"general": {"enabled": false}})),
    ];
    for (case, body) in bad_puts {
        let (status, reply) = app.put(PREFERENCES, &me, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {reply}");
        assert_eq!(reply["error"]["code"], "validation_error", "{case}: {reply}");
        assert!(reply["error"]["message"].is_string(), "{case}: {reply}");
        assert!(
            reply["error"]["field"].as_str().is_some_and(|f| f.starts_with("preferences")),
            "{case}: the field names the preferences: {reply}"
        );
        let (_, now) = app.get(PREFERENCES, &me).await;
        assert_eq!(now["preferences"], expected, "{case}: the refused PUT changed nothing");
    }

    let (_, other) = app.get(PREFERENCES, &token(2)).await;
    assert_eq!(other["preferences"], initial["preferences"], "another user's preferences are untouched");
});
