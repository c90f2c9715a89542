//! Minting HS256 access tokens shaped like djangorestframework-simplejwt's, and who may have
//! one: the development token `herald serve` prints, the token a client command (`herald send`,
//! `herald selftest`) signs for itself, and `herald token`'s. Also used by `/dev/token` and the
//! bench. Verifying tokens is `jwt`'s.

use crate::config::{Config, JwtAlgorithm, JwtConfig};
use crate::domain::UserId;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use std::time::{Duration, SystemTime, SystemTimeError, UNIX_EPOCH};

/// Lifetime of the development token printed at start.
pub const DEV_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Lifetime of the token a client command mints for itself.
const CLIENT_TOKEN_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("only HS256 tokens can be minted here: RS256/ES256 need the issuer's private key")]
    NotHs256,
    #[error(
        "JWT_SECRET is not set: set it to the secret your nodes use, or the token would be signed with a \
         random one"
    )]
    NoSecret,
    #[error("give --token, or set JWT_SECRET to the node's secret so a token can be minted")]
    NoSecretNorToken,
    #[error("--user must be a positive integer")]
    BadUser,
    #[error("{0}")]
    Clock(#[source] SystemTimeError),
    #[error("{0}")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// Mints an access token for `user`, valid for `ttl`; `staff` grants the send permission.
pub fn mint_token(config: &JwtConfig, user: UserId, staff: bool, ttl: Duration) -> Result<String, MintError> {
    if config.algorithm != JwtAlgorithm::Hs256 {
        return Err(MintError::NotHs256);
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(MintError::Clock)?.as_secs();
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
        .map_err(MintError::Sign)
}

/// The token `herald serve` prints when it verifies with its own development secret (loopback
/// only): user 1, staff, valid `DEV_TOKEN_TTL`. `None` on any other node.
pub fn development_token(config: &Config) -> Result<Option<String>, MintError> {
    if !config.uses_development_secret() {
        return Ok(None);
    }
    let user = UserId::new(1).ok_or(MintError::BadUser)?;
    mint_token(&config.jwt, user, true, DEV_TOKEN_TTL).map(Some)
}

/// The token a client command uses: the one given, else a short-lived staff token for `user`
/// signed with `JWT_SECRET` (never with a generated secret, which no node shares).
pub fn client_token(config: &JwtConfig, user: i64, given: Option<String>) -> Result<String, MintError> {
    if let Some(token) = given {
        return Ok(token);
    }
    if config.secret_is_generated {
        return Err(MintError::NoSecretNorToken);
    }
    mint_token(config, UserId::new(user).ok_or(MintError::BadUser)?, true, CLIENT_TOKEN_TTL)
}

/// `herald token`: a token signed with `JWT_SECRET`, refused while it is unset.
pub fn operator_token(config: &JwtConfig, user: i64, staff: bool, ttl: Duration) -> Result<String, MintError> {
    if config.secret_is_generated {
        return Err(MintError::NoSecret);
    }
    mint_token(config, UserId::new(user).ok_or(MintError::BadUser)?, staff, ttl)
}
