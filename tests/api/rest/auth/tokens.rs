//! Who may call: the algorithm pinned, `exp`/`nbf` with a 30 s leeway, `iss`/`aud` when
//! configured, access tokens only, the user id from `user_id` or `sub`, RS256 with a PEM key.

use super::{claims, claims_with, CREATE};
use crate::helpers::*;
use awc::http::{Method, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

const UNREAD_COUNT: &str = "/auth/notifications/unread-count/";

/// Unpadded base64url (RFC 7515), to build tokens by hand.
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let triple = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((triple >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// `header.payload` of a hand-built token, both segments base64url JSON.
fn signing_input(header: &Value, claims: &Value) -> String {
    let header = serde_json::to_vec(header).expect("header serializes");
    let claims = serde_json::to_vec(claims).expect("claims serialize");
    format!("{}.{}", b64url(&header), b64url(&claims))
}

/// A hand-built HS256 token signed with `secret`: the control that proves hand-built tokens are
/// well formed, so the rejections below are about what was changed and nothing else.
fn hand_signed_hs256(claims: &Value, secret: &str) -> String {
    let input = signing_input(&json!({"alg": "HS256", "typ": "JWT"}), claims);
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &EncodingKey::from_secret(secret.as_bytes()), Algorithm::HS256)
            .expect("HMAC signs");
    format!("{input}.{signature}")
}

async fn unread_count_as(app: &TestApp, token: Option<&str>) -> (StatusCode, Value) {
    app.call(Method::GET, UNREAD_COUNT, token, None).await
}

async fn assert_accepted(app: &TestApp, token: &str, case: &str) {
    let (status, body) = unread_count_as(app, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{case}: {body}");
    assert!(body["unread_count"].is_i64(), "{case}: {body}");
}

fn assert_unauthorized_body(status: StatusCode, body: &Value, case: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
    assert_eq!(body["error"]["code"], "unauthorized", "{case}: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: {body}");
}

async fn assert_unauthorized(app: &TestApp, token: Option<&str>, case: &str) {
    let (status, body) = unread_count_as(app, token).await;
    assert_unauthorized_body(status, &body, case);
}

#[actix_web::test]
async fn a_valid_token_is_accepted_and_a_missing_or_malformed_header_is_401() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_accepted(&app, &token(1), "helper token").await;
    assert_accepted(&app, &hand_signed_hs256(&claims(1), SECRET), "hand-built HS256 token").await;

    assert_unauthorized(&app, None, "no Authorization header").await;
    let valid = token(1);
    for (case, header) in [
        ("Basic scheme", format!("Basic {valid}")),
        ("token without scheme", valid.clone()),
        ("empty bearer", "Bearer ".to_owned()),
        ("garbage bearer", "Bearer not.a.jwt".to_owned()),
        ("two segments", format!("Bearer {}", valid.rsplit_once('.').expect("three segments").0)),
    ] {
        let (status, _, body) = app.raw(Method::GET, UNREAD_COUNT, &[("Authorization", &header)], Vec::new()).await;
        assert_unauthorized_body(status, &body, case);
    }
}

#[actix_web::test]
async fn the_signature_and_the_algorithm_are_pinned() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let me = claims(1);

    let wrong_secret = sign_with(&me, Algorithm::HS256, "another-secret-0123456789abcdef");
    assert_unauthorized(&app, Some(&wrong_secret), "HS256 with a wrong secret").await;

    let none_input = signing_input(&json!({"alg": "none", "typ": "JWT"}), &me);
    assert_unauthorized(&app, Some(&format!("{none_input}.")), "alg none, empty signature").await;
    let valid_signature = hand_signed_hs256(&me, SECRET).rsplit_once('.').expect("signature").1.to_owned();
    assert_unauthorized(&app, Some(&format!("{none_input}.{valid_signature}")), "alg none, HS256 signature").await;

    for algorithm in [Algorithm::HS384, Algorithm::HS512] {
        let other = sign_with(&me, algorithm, SECRET);
        assert_unauthorized(&app, Some(&other), &format!("{algorithm:?} with the right secret")).await;
    }

    // Same header and signature, payload re-encoded for another user.
    let original = sign(&me);
    let parts: Vec<&str> = original.split('.').collect();
    assert_eq!(parts.len(), 3);
    let forged_claims = serde_json::to_vec(&claims(2)).expect("claims serialize");
    let tampered = format!("{}.{}.{}", parts[0], b64url(&forged_claims), parts[2]);
    assert_unauthorized(&app, Some(&tampered), "payload re-encoded with another user_id").await;
    assert_accepted(&app, &original, "the untampered original").await;
}

#[actix_web::test]
async fn exp_is_required_and_exp_and_nbf_have_a_30_second_leeway() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let now = now_secs();
    let cases = [
        ("expired 60 s ago", json!({"exp": now - 60}), false),
        ("expired 10 s ago, inside the leeway", json!({"exp": now - 10}), true),
        ("no exp", json!({"exp": null}), false),
        ("exp not a number", json!({"exp": "tomorrow"}), false),
        ("nbf 120 s in the future", json!({"nbf": now + 120}), false),
        ("nbf 10 s in the future, inside the leeway", json!({"nbf": now + 10}), true),
        ("nbf in the past", json!({"nbf": now - 60}), true),
    ];
    for (case, changes, accepted) in cases {
        let token = sign(&claims_with(1, changes));
        if accepted {
            assert_accepted(&app, &token, case).await;
        } else {
            assert_unauthorized(&app, Some(&token), case).await;
        }
    }
}

#[actix_web::test]
async fn only_access_tokens_are_accepted() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_accepted(&app, &sign(&claims(1)), "token_type access").await;
    assert_accepted(&app, &sign(&claims_with(1, json!({"token_type": null}))), "token_type absent").await;
    for (case, kind) in [("refresh", json!("refresh")), ("Access, capitalised", json!("Access")), ("number", json!(1))]
    {
        assert_unauthorized(&app, Some(&sign(&claims_with(1, json!({"token_type": kind})))), case).await;
    }
}

#[actix_web::test]
async fn the_user_id_comes_from_user_id_or_else_a_digit_sub() {
    let app = TestApp::spawn(Backend::Sqlite).await;

    let digit_string = sign(&claims_with(0, json!({"user_id": "42"})));
    let (status, body) = app.post(CREATE, &digit_string, json!({"title": "as 42"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["notification"]["user_id"], 42);
    assert_eq!(body["notification"]["sender_id"], 42);
    assert_eq!(unread_count(&app, 42).await, 1, "the integer-id token of user 42 sees it");

    let sub_only = sign(&claims_with(0, json!({"user_id": null, "sub": "43"})));
    let (status, body) = app.post(CREATE, &sub_only, json!({"title": "as 43"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["notification"]["user_id"], 43);
    assert_eq!(unread_count(&app, 43).await, 1);

    for (case, changes) in [
        ("sub not digits", json!({"user_id": null, "sub": "user-43"})),
        ("sub negative", json!({"user_id": null, "sub": "-43"})),
        ("no user_id and no sub", json!({"user_id": null})),
        ("user_id 0", json!({"user_id": 0})),
        ("user_id negative", json!({"user_id": -7})),
        ("user_id negative string", json!({"user_id": "-7"})),
        ("user_id not digits", json!({"user_id": "abc"})),
        ("user_id fractional", json!({"user_id": 1.5})),
        ("user_id above i64", json!({"user_id": 9_223_372_036_854_775_808_u64})),
        ("user_id boolean", json!({"user_id": true})),
    ] {
        assert_unauthorized(&app, Some(&sign(&claims_with(0, changes))), case).await;
    }
    assert_eq!(unread_count(&app, 7).await, 0);
}

#[actix_web::test]
async fn issuer_and_audience_must_match_when_configured() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, &[("JWT_ISSUER", "herald-tests"), ("JWT_AUDIENCE", "herald-api")]).await;
    let right = json!({"iss": "herald-tests", "aud": "herald-api"});
    assert_accepted(&app, &sign(&claims_with(1, right)), "right iss and aud").await;
    let audience_list = json!({"iss": "herald-tests", "aud": ["other-api", "herald-api"]});
    assert_accepted(&app, &sign(&claims_with(1, audience_list)), "aud list naming herald-api").await;
    for (case, changes) in [
        ("wrong iss", json!({"iss": "someone-else", "aud": "herald-api"})),
        ("wrong aud", json!({"iss": "herald-tests", "aud": "other-api"})),
        ("wrong both", json!({"iss": "someone-else", "aud": "other-api"})),
    ] {
        assert_unauthorized(&app, Some(&sign(&claims_with(1, changes))), case).await;
    }
}

#[actix_web::test]
async fn issuer_and_audience_are_required_when_configured() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, &[("JWT_ISSUER", "herald-tests"), ("JWT_AUDIENCE", "herald-api")]).await;
    let mut accepted = Vec::new();
    for (case, changes) in [
        ("neither iss nor aud", json!({})),
        ("iss but no aud", json!({"iss": "herald-tests"})),
        ("aud but no iss", json!({"aud": "herald-api"})),
    ] {
        let (status, body) = unread_count_as(&app, Some(&sign(&claims_with(1, changes)))).await;
        if status != StatusCode::UNAUTHORIZED || body["error"]["code"] != "unauthorized" {
            accepted.push(format!("{case}: {status} {body}"));
        }
    }
    assert!(accepted.is_empty(), "tokens missing a configured claim were not refused: {accepted:#?}");
}

#[actix_web::test]
async fn without_issuer_or_audience_configured_any_iss_and_aud_are_accepted() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = sign(&claims_with(1, json!({"iss": "anyone", "aud": "anything"})));
    assert_accepted(&app, &token, "iss/aud not configured").await;
}

/// Runs `openssl` with `args`, failing the test with its stderr when it fails.
fn openssl(args: &[&str]) {
    let output = std::process::Command::new("openssl").args(args).output().expect("the openssl CLI runs");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A fresh RSA key pair in `dir`: (private PEM bytes, public key file path).
fn rsa_key_pair(dir: &std::path::Path, name: &str) -> (Vec<u8>, std::path::PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let private_arg = private.to_str().expect("utf-8 temp path");
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private_arg]);
    openssl(&["pkey", "-in", private_arg, "-pubout", "-out", public.to_str().expect("utf-8 temp path")]);
    (std::fs::read(&private).expect("read private key"), public)
}

fn sign_rs256(claims: &Value, private_pem: &[u8]) -> String {
    let key = EncodingKey::from_rsa_pem(private_pem).expect("RSA private key");
    jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::RS256), claims, &key).expect("sign RS256")
}

#[actix_web::test]
async fn rs256_accepts_only_tokens_signed_by_the_configured_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (private_pem, public_file) = rsa_key_pair(dir.path(), "herald");
    let (other_private_pem, _) = rsa_key_pair(dir.path(), "other");
    let public_path = public_file.to_str().expect("utf-8 temp path");
    let app =
        TestApp::spawn_with(Backend::Sqlite, &[("JWT_ALGORITHM", "RS256"), ("JWT_PUBLIC_KEY_FILE", public_path)]).await;

    assert_accepted(&app, &sign_rs256(&claims(1), &private_pem), "RS256 signed with the private key").await;
    let (status, body) = app.post(CREATE, &sign_rs256(&claims(1), &private_pem), json!({"title": "rs"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    assert_unauthorized(&app, Some(&sign(&claims(1))), "HS256 with the test secret").await;
    let public_pem = std::fs::read_to_string(&public_file).expect("read public key");
    let confused = sign_with(&claims(1), Algorithm::HS256, &public_pem);
    assert_unauthorized(&app, Some(&confused), "HS256 keyed with the public key (algorithm confusion)").await;
    let other = sign_rs256(&claims(1), &other_private_pem);
    assert_unauthorized(&app, Some(&other), "RS256 signed with another private key").await;
    let none = format!("{}.", signing_input(&json!({"alg": "none", "typ": "JWT"}), &claims(1)));
    assert_unauthorized(&app, Some(&none), "alg none").await;
    let expired = sign_rs256(&claims_with(1, json!({"exp": now_secs() - 60})), &private_pem);
    assert_unauthorized(&app, Some(&expired), "RS256 expired 60 s ago").await;
}
