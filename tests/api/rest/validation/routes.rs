//! Routes: 404/405, trailing slashes, JSON errors.

use super::{assert_error, assert_json_content_type, padded_json, BROADCAST, CREATE, LIST};
use crate::helpers::*;
use awc::http::header::HeaderMap;
use awc::http::{Method, StatusCode};
use serde_json::{json, Value};

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
