//! Token verification: the algorithm pinned by configuration (any other, `none` included, is
//! refused), `exp` required, `nbf` honoured, leeway, `iss`/`aud` when configured, simplejwt
//! refresh tokens refused, the user id from `user_id` (integer or digit string) else `sub`.

use super::Principal;
use crate::config::{JwtAlgorithm, JwtConfig};
use crate::domain::UserId;
use crate::error::ApiError;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

pub const SEND_SCOPE: &str = "notifications:send";

pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn from_config(config: &JwtConfig) -> Result<Self, String> {
        let (algorithm, key) = match config.algorithm {
            JwtAlgorithm::Hs256 => (Algorithm::HS256, DecodingKey::from_secret(config.secret.0.as_bytes())),
            JwtAlgorithm::Rs256 | JwtAlgorithm::Es256 => {
                let path = config.public_key_file.as_ref().ok_or("JWT_PUBLIC_KEY_FILE is required")?;
                let pem = std::fs::read(path).map_err(|e| format!("JWT_PUBLIC_KEY_FILE {}: {e}", path.display()))?;
                if config.algorithm == JwtAlgorithm::Rs256 {
                    let key = DecodingKey::from_rsa_pem(&pem)
                        .map_err(|e| format!("JWT_PUBLIC_KEY_FILE is not an RSA public key: {e}"))?;
                    (Algorithm::RS256, key)
                } else {
                    let key = DecodingKey::from_ec_pem(&pem)
                        .map_err(|e| format!("JWT_PUBLIC_KEY_FILE is not an EC public key: {e}"))?;
                    (Algorithm::ES256, key)
                }
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
    let scope_has_send = claims
        .get("scope")
        .and_then(Value::as_str)
        .is_some_and(|scope| scope.split_whitespace().any(|s| s == SEND_SCOPE));
    let scopes_have_send = claims
        .get("scopes")
        .and_then(Value::as_array)
        .is_some_and(|scopes| scopes.iter().any(|s| s.as_str() == Some(SEND_SCOPE)));
    let expires_at = claims
        .get("exp")
        .and_then(|exp| exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64)))
        .ok_or(ApiError::Unauthorized("token has no valid exp"))?;
    Ok(Principal { user_id, can_send: is_staff || scope_has_send || scopes_have_send, expires_at })
}
