//! Handshake refusals.

use super::{ping_pong, token_expiring};
use crate::helpers::*;
use serde_json::{json, Value};

/// Asserts the handshake was refused with `status` and the JSON error envelope `code`.
fn assert_refused(result: Result<WsClient, Refused>, status: u16, code: &str) -> Value {
    match result {
        Ok(_) => panic!("handshake was accepted; expected HTTP {status} {code}"),
        Err(Refused { status: got, body }) => {
            assert_eq!(got, status, "{body}");
            assert_eq!(body["error"]["code"], code, "{body}");
            assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
            body
        }
    }
}

/// Asserts the handshake was accepted and the greeting names `user`.
async fn assert_accepted(result: Result<WsClient, Refused>, user: i64) -> WsClient {
    let mut ws = result.expect("handshake accepted");
    let hello = ws.next_json().await;
    assert_eq!(hello["type"], "connection_established", "{hello}");
    assert_eq!(hello["user_id"], user, "{hello}");
    ws
}

#[actix_web::test]
async fn handshake_without_a_token_is_401_unauthorized_and_not_upgraded() {
    let app = TestApp::spawn(Backend::Postgres).await;
    assert_refused(WsClient::try_connect(&ws_url(&app, ""), &[]).await, 401, "unauthorized");
    assert_refused(WsClient::try_connect(&ws_url(&app, "?token="), &[]).await, 401, "unauthorized");
    // A non-Bearer Authorization header is no token either.
    let basic = [("Authorization", "Basic dXNlcjpwYXNz")];
    assert_refused(WsClient::try_connect(&ws_url(&app, ""), &basic).await, 401, "unauthorized");
}

#[actix_web::test]
async fn handshake_with_a_bad_token_is_401() {
    let app = TestApp::spawn(Backend::Postgres).await;
    assert_refused(WsClient::try_connect(&ws_url(&app, "?token=not-a-jwt"), &[]).await, 401, "unauthorized");
    let foreign = sign_with(
        &json!({"token_type": "access", "user_id": 1, "exp": now_secs() + 3600}),
        jsonwebtoken::Algorithm::HS256,
        "some-other-secret-0123456789abcdef",
    );
    let url = ws_url(&app, &format!("?token={foreign}"));
    assert_refused(WsClient::try_connect(&url, &[]).await, 401, "unauthorized");
    let refresh = sign(&json!({"token_type": "refresh", "user_id": 1, "exp": now_secs() + 3600}));
    let url = ws_url(&app, &format!("?token={refresh}"));
    assert_refused(WsClient::try_connect(&url, &[]).await, 401, "unauthorized");
}

#[actix_web::test]
async fn handshake_with_an_expired_token_is_401() {
    let app = TestApp::spawn(Backend::Postgres).await;
    // Expired well beyond the 30 s leeway.
    let expired = token_expiring(1, now_secs() - 120);
    let url = ws_url(&app, &format!("?token={expired}"));
    assert_refused(WsClient::try_connect(&url, &[]).await, 401, "unauthorized");
    let bearer = format!("Bearer {expired}");
    assert_refused(
        WsClient::try_connect(&ws_url(&app, ""), &[("Authorization", bearer.as_str())]).await,
        401,
        "unauthorized",
    );
}

#[actix_web::test]
async fn handshake_accepts_the_token_in_an_authorization_bearer_header() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let bearer = format!("Bearer {}", token(5));
    let mut ws =
        assert_accepted(WsClient::try_connect(&ws_url(&app, ""), &[("Authorization", &bearer)]).await, 5).await;
    ping_pong(&mut ws, json!("bearer")).await;
}

#[actix_web::test]
async fn handshake_checks_the_origin_against_allowed_origins() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let url = ws_url(&app, &format!("?token={}", token(3)));
    assert_refused(WsClient::try_connect(&url, &[("Origin", "https://evil.example.com")]).await, 403, "forbidden");
    // Refused on origin even without a token: the origin is checked first, never upgraded.
    assert_refused(
        WsClient::try_connect(&ws_url(&app, ""), &[("Origin", "https://evil.example.com")]).await,
        403,
        "forbidden",
    );
    let mut allowed =
        assert_accepted(WsClient::try_connect(&url, &[("Origin", "https://app.example.com")]).await, 3).await;
    ping_pong(&mut allowed, json!("origin")).await;
    let mut no_origin = assert_accepted(WsClient::try_connect(&url, &[]).await, 3).await;
    ping_pong(&mut no_origin, json!(1)).await;
}

#[actix_web::test]
async fn handshake_with_an_invalid_since_is_400() {
    let app = TestApp::spawn(Backend::Postgres).await;
    for since in ["abc", "-1", "1.5"] {
        let url = ws_url(&app, &format!("?token={}&since={since}", token(1)));
        let body = assert_refused(WsClient::try_connect(&url, &[]).await, 400, "validation_error");
        assert_eq!(body["error"]["field"], "since", "since={since}: {body}");
    }
}
