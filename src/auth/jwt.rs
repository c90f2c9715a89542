//! Token verification: the algorithm pinned by configuration (any other, `none` included, is
//! refused), `exp` required, `nbf` honoured, leeway, `iss`/`aud` when configured, simplejwt
//! refresh tokens refused, the user id from `user_id` (integer or digit string) else `sub`.
//! The RS256/ES256 key is parsed by `config::keys` (strictly, at start: a bad key stops the
//! process with exit 2 instead of refusing every token later), or comes from an identity
//! provider's JWKS by the token's `kid` (`super::jwks`). `JWT_USER_CLAIM` names another claim.

use super::jwks::{Jwks, Key};
use crate::config::keys::{read_public_key, KeyFileError};
use crate::config::{JwtAlgorithm, JwtConfig};
use crate::domain::{Principal, UserId};
use crate::error::ApiError;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::sync::Arc;

pub const SEND_SCOPE: &str = "notifications:send";
/// The scope that opens the admin console (as `is_staff` does).
pub const ADMIN_SCOPE: &str = "notifications:admin";

/// Why no verifier could be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    #[error("JWT_PUBLIC_KEY_FILE is required")]
    NoKeyFile,
    #[error("JWT_PUBLIC_KEY_FILE {0}")]
    Key(#[source] KeyFileError),
}

/// Where the verification keys come from.
enum Keys {
    /// `JWT_SECRET` or `JWT_PUBLIC_KEY_FILE`: one key, one algorithm.
    Fixed(Key),
    /// `JWT_JWKS_URL`: the provider's keys, by `kid`.
    Jwks(Arc<Jwks>),
}

/// Why `check` refused a token.
pub enum Refusal {
    /// The token names a `kid` (or, without one, the set has several keys) not cached.
    UnknownKey,
    Invalid(ApiError),
}

pub struct TokenVerifier {
    keys: Keys,
    /// One per algorithm accepted (one, or RS256 and ES256 with a JWKS).
    validations: Vec<(Algorithm, Validation)>,
    /// `JWT_USER_CLAIM`.
    user_claim: Option<String>,
}

impl TokenVerifier {
    pub fn from_config(config: &JwtConfig) -> Result<Self, VerifierError> {
        let keys = match (&config.jwks, config.algorithm) {
            (Some(jwks), algorithm) => Keys::Jwks(Arc::new(Jwks::new(jwks.clone(), algorithm))),
            (None, JwtAlgorithm::Hs256) => Keys::Fixed(Key {
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(config.secret.0.as_bytes()),
            }),
            (None, JwtAlgorithm::Rs256 | JwtAlgorithm::Es256) => {
                let path = config.public_key_file.as_ref().ok_or(VerifierError::NoKeyFile)?;
                let key = read_public_key(config.algorithm, path).map_err(VerifierError::Key)?;
                let algorithm =
                    if config.algorithm == JwtAlgorithm::Rs256 { Algorithm::RS256 } else { Algorithm::ES256 };
                Keys::Fixed(Key { algorithm, key })
            }
        };
        let algorithms = match &keys {
            Keys::Fixed(key) => vec![key.algorithm],
            Keys::Jwks(_) => vec![Algorithm::RS256, Algorithm::ES256],
        };
        let validations = algorithms.into_iter().map(|algorithm| (algorithm, validation(config, algorithm))).collect();
        Ok(TokenVerifier { keys, validations, user_claim: config.user_claim.clone() })
    }

    /// The JWKS the keys come from, when configured (its refresh task and readiness need it).
    pub fn jwks(&self) -> Option<&Arc<Jwks>> {
        match &self.keys {
            Keys::Jwks(jwks) => Some(jwks),
            Keys::Fixed(_) => None,
        }
    }

    /// Verifies, fetching the key set again first when the token's key is not cached (at most
    /// once per cool-down, sharing a fetch in progress).
    pub async fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        match (self.check(token), self.jwks()) {
            (Err(Refusal::UnknownKey), Some(jwks)) => {
                jwks.refresh_unless_recent().await;
                self.check(token).map_err(Refusal::into_error)
            }
            (checked, _) => checked.map_err(Refusal::into_error),
        }
    }

    /// Verifies with the keys at hand; `Refusal::UnknownKey` tells that `verify` may
    /// still accept the token.
    pub fn check(&self, token: &str) -> Result<Principal, Refusal> {
        let fetched;
        let key = match &self.keys {
            Keys::Fixed(key) => key,
            Keys::Jwks(jwks) => {
                let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Invalid(invalid_token()))?;
                fetched = jwks.key(header.kid.as_deref()).ok_or(Refusal::UnknownKey)?;
                &fetched
            }
        };
        let (_, validation) = self
            .validations
            .iter()
            .find(|(algorithm, _)| *algorithm == key.algorithm)
            .ok_or(Refusal::Invalid(invalid_token()))?;
        let data = jsonwebtoken::decode::<Value>(token, &key.key, validation).map_err(|err| {
            log::debug!("token refused: {err}");
            Refusal::Invalid(invalid_token())
        })?;
        principal_from_claims(&data.claims, self.user_claim.as_deref()).map_err(Refusal::Invalid)
    }
}

impl Refusal {
    pub fn into_error(self) -> ApiError {
        match self {
            Refusal::UnknownKey => ApiError::Unauthorized("token signed by an unknown key"),
            Refusal::Invalid(err) => err,
        }
    }
}

fn invalid_token() -> ApiError {
    ApiError::Unauthorized("invalid or expired token")
}

/// The checks every token passes with `algorithm`: `exp` required, `nbf`, leeway, and `iss`/`aud`
/// when configured.
fn validation(config: &JwtConfig, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.algorithms = vec![algorithm];
    validation.leeway = config.leeway.as_secs();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    // jsonwebtoken compares iss/aud only when the token has them: require them when configured.
    let mut required = vec!["exp"];
    required.extend(config.issuer.as_ref().map(|_| "iss"));
    required.extend(config.audience.as_ref().map(|_| "aud"));
    validation.set_required_spec_claims(&required);
    match &config.issuer {
        Some(issuer) => validation.set_issuer(&[issuer]),
        None => validation.iss = None,
    }
    match &config.audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    validation
}

fn principal_from_claims(claims: &Value, user_claim: Option<&str>) -> Result<Principal, ApiError> {
    match claims.get("token_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(kind)) if kind == "access" => {}
        Some(_) => return Err(ApiError::Unauthorized("only access tokens are accepted")),
    }
    let user_id = match user_claim {
        Some(claim) => claims.get(claim).and_then(UserId::from_json),
        None => match claims.get("user_id").filter(|v| !v.is_null()) {
            Some(value) => UserId::from_json(value),
            None => claims.get("sub").and_then(|sub| sub.as_str()).and_then(UserId::parse_str),
        },
    }
    .ok_or(ApiError::Unauthorized("token names no valid user id"))?;
    let is_staff = claims.get("is_staff").and_then(Value::as_bool).unwrap_or(false);
    let has_scope = |wanted: &str| {
        let in_scope = claims
            .get("scope")
            .and_then(Value::as_str)
            .is_some_and(|scope| scope.split_whitespace().any(|s| s == wanted));
        let in_scopes = claims
            .get("scopes")
            .and_then(Value::as_array)
            .is_some_and(|scopes| scopes.iter().any(|s| s.as_str() == Some(wanted)));
        in_scope || in_scopes
    };
    let expires_at = claims
        .get("exp")
        .and_then(|exp| exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64)))
        .ok_or(ApiError::Unauthorized("token has no valid exp"))?;
    Ok(Principal {
        user_id,
        can_send: is_staff || has_scope(SEND_SCOPE),
        can_administer: is_staff || has_scope(ADMIN_SCOPE),
        expires_at,
    })
}
