//! Token verification: the algorithm pinned by configuration (any other, `none` included, is
//! refused), `exp` required, `nbf` honoured, leeway, `iss`/`aud` when configured, simplejwt
//! refresh tokens refused, the user id from `user_id` (integer or digit string) else `sub`.
//! The RS256/ES256 key is parsed by `config::keys` (strictly, at start: a bad key stops the
//! process with exit 2 instead of refusing every token later).

use crate::config::keys::{read_public_key, KeyFileError};
use crate::config::{JwtAlgorithm, JwtConfig};
use crate::domain::{Principal, UserId};
use crate::error::ApiError;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

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

pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn from_config(config: &JwtConfig) -> Result<Self, VerifierError> {
        let (algorithm, key) = match config.algorithm {
            JwtAlgorithm::Hs256 => (Algorithm::HS256, DecodingKey::from_secret(config.secret.0.as_bytes())),
            JwtAlgorithm::Rs256 | JwtAlgorithm::Es256 => {
                let path = config.public_key_file.as_ref().ok_or(VerifierError::NoKeyFile)?;
                let key = read_public_key(config.algorithm, path).map_err(VerifierError::Key)?;
                let algorithm =
                    if config.algorithm == JwtAlgorithm::Rs256 { Algorithm::RS256 } else { Algorithm::ES256 };
                (algorithm, key)
            }
        };
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
        Ok(TokenVerifier { key, validation })
    }

    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let data = jsonwebtoken::decode::<Value>(token, &self.key, &self.validation).map_err(|err| {
            log::debug!("token refused: {err}");
            ApiError::Unauthorized("invalid or expired token")
        })?;
        principal_from_claims(&data.claims)
    }
}

fn principal_from_claims(claims: &Value) -> Result<Principal, ApiError> {
    match claims.get("token_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(kind)) if kind == "access" => {}
        Some(_) => return Err(ApiError::Unauthorized("only access tokens are accepted")),
    }
    let user_id = match claims.get("user_id").filter(|v| !v.is_null()) {
        Some(value) => UserId::from_json(value),
        None => claims.get("sub").and_then(|sub| sub.as_str()).and_then(UserId::parse_str),
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
