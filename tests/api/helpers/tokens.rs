//! Tokens signed like the tests' nodes expect them (HS256 with `SECRET`).

use super::SECRET;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// Signs `claims` with HS256 and the test secret.
pub fn sign(claims: &Value) -> String {
    sign_with(claims, jsonwebtoken::Algorithm::HS256, SECRET)
}

pub fn sign_with(claims: &Value, algorithm: jsonwebtoken::Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(algorithm),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign token")
}

/// A simplejwt-shaped access token for a plain user, valid for an hour.
pub fn token(user: i64) -> String {
    sign(&json!({ "token_type": "access", "user_id": user, "exp": now_secs() + 3600, "jti": "t" }))
}

/// A staff token (may create for others and broadcast).
pub fn staff_token(user: i64) -> String {
    sign(&json!({ "token_type": "access", "user_id": user, "exp": now_secs() + 3600, "is_staff": true }))
}
