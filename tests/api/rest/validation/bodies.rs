//! Request bodies: JSON, Content-Type and size limits.

use super::{assert_error, padded_json, BROADCAST, CREATE, PREFERENCES};
use crate::helpers::*;
use awc::http::header::HeaderMap;
use awc::http::{Method, StatusCode};
use serde_json::{json, Value};

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
