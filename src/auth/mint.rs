//! Minting HS256 access tokens shaped like djangorestframework-simplejwt's, for development
//! (`herald token`, the development token printed at start) and for tests.

use crate::config::{JwtAlgorithm, JwtConfig};
use crate::domain::UserId;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Mints an access token for `user`, valid for `ttl`; `staff` grants the send permission.
pub fn mint_token(config: &JwtConfig, user: UserId, staff: bool, ttl: Duration) -> Result<String, String> {
    if config.algorithm != JwtAlgorithm::Hs256 {
        return Err("only HS256 tokens can be minted here: RS256/ES256 need the issuer's private key".into());
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let mut claims = json!({
        "token_type": "access",
        "user_id": user.get(),
        "iat": now,
        "exp": now + ttl.as_secs(),
        "jti": format!("{:032x}", rand::random::<u128>()),
        "is_staff": staff,
    });
    if let Some(issuer) = &config.issuer {
        claims["iss"] = json!(issuer);
    }
    if let Some(audience) = &config.audience {
        claims["aud"] = json!(audience);
    }
    jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(config.secret.0.as_bytes()))
        .map_err(|e| e.to_string())
}
