//! The auth matrix of SPEC §2 over REST.

mod jwks;
mod permissions;
mod tokens;

use crate::helpers::*;
use serde_json::{json, Value};

const CREATE: &str = "/auth/notifications/create/";

/// The claims of a valid simplejwt access token for `user`, for tests to vary.
fn claims(user: i64) -> Value {
    json!({ "token_type": "access", "user_id": user, "exp": now_secs() + 3600, "jti": "auth-test" })
}

/// `claims(user)` with `changes` applied; a `null` change removes the claim.
fn claims_with(user: i64, changes: Value) -> Value {
    let mut claims = claims(user);
    let map = claims.as_object_mut().expect("claims are an object");
    for (name, value) in changes.as_object().expect("changes are an object") {
        if value.is_null() {
            map.remove(name);
        } else {
            map.insert(name.clone(), value.clone());
        }
    }
    claims
}
