//! Token verification: the algorithm pinned by configuration (any other, `none` included, is
//! refused), `exp` required, `nbf` honoured, leeway, `iss`/`aud` when configured, simplejwt
//! refresh tokens refused, the user id from `user_id` (integer or digit string) else `sub`.
//! The RS256/ES256 key is parsed by `config::public_key` (strictly, at start: a bad key stops the
//! process with exit 2 instead of refusing every token later).

use super::Principal;
use crate::config::{public_key, JwtAlgorithm, JwtConfig};
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
                let key = public_key(config.algorithm, &pem)
                    .map_err(|why| format!("JWT_PUBLIC_KEY_FILE {}: {why}", path.display()))?;
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Public keys only (made with `openssl genpkey`, private halves discarded).
    pub(crate) const RSA_1024_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDaPpTJPyntgc9NOeLXdMhcf0Pp
n4GBe5ZFyTHN4GLhT/yBbEXELU8TiRRUP69pfqee+S7icVm17ybYZdp3F+38PTIe
q1u6tBgIpVurTZKuHjAY0hsoYi/ASWgkfbpG/wwrXUUGqTGyvJH7ZfJP87LKTGr5
gIHlSh53s0Hd8JtuHQIDAQAB
-----END PUBLIC KEY-----
";
    pub(crate) const RSA_2048_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmSI8SND55BUHSX4sdH83
4rUfLRzzWep+0iLYE/eZOwKQAQ32PwuKke0dlKUBX+VvC1dXI+72i+4uHHBNGUcv
p3JkuinXO3zJfOZqy51XG6T2NxGCe04gaTzNkei12oTsZW6JsCcWU2bfEnrsR/7n
/in7SLSF1OT3w996WAOFrwxUbfd4wU6aU6lvhAB9yb+WfJ9d+mnf1pJ0h2qkF+si
bXvs+4oHbKzDjEEwud9gN84+GZISSGgsUDpRP45kQzePKY8w+Qcyf9o6JnWcE5Z9
ysNHDmD1qqJsCfIgYZsenbRAYdKwU6YgEcflPxjnKEjwXn6yW/wO0r7jAzvztfli
gwIDAQAB
-----END PUBLIC KEY-----
";

    fn refusal(algorithm: JwtAlgorithm, pem: &str) -> String {
        match public_key(algorithm, pem.as_bytes()) {
            Ok(_) => panic!("{algorithm:?} accepted {pem}"),
            Err(why) => why,
        }
    }

    #[test]
    fn rs256_takes_an_rsa_public_key_of_at_least_2048_bits() {
        use rsa::pkcs1::EncodeRsaPublicKey;
        use rsa::pkcs8::DecodePublicKey;
        public_key(JwtAlgorithm::Rs256, RSA_2048_PUBLIC_PEM.as_bytes()).expect("SPKI `PUBLIC KEY`");
        let parsed = rsa::RsaPublicKey::from_public_key_pem(RSA_2048_PUBLIC_PEM).expect("test key");
        let pkcs1 = parsed.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).expect("PKCS#1 PEM");
        public_key(JwtAlgorithm::Rs256, pkcs1.as_bytes()).expect("PKCS#1 `RSA PUBLIC KEY`");

        assert!(refusal(JwtAlgorithm::Rs256, RSA_1024_PUBLIC_PEM).contains("1024 bits"));
        refusal(JwtAlgorithm::Rs256, crate::config::tests::P384_PUBLIC_PEM);
        refusal(JwtAlgorithm::Rs256, "");
        refusal(JwtAlgorithm::Rs256, "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n");
    }

    #[test]
    fn es256_takes_a_p256_public_key_and_verifies_its_tokens() {
        use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let private = p256::SecretKey::random(&mut rand::thread_rng());
        let private_pem = private.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 PEM");
        let public_pem = private.public_key().to_public_key_pem(LineEnding::LF).expect("SPKI PEM");
        let key = public_key(JwtAlgorithm::Es256, public_pem.as_bytes()).expect("a P-256 key");

        let claims = serde_json::json!({"user_id": 3, "exp": chrono::Utc::now().timestamp() + 60});
        let signing_key = jsonwebtoken::EncodingKey::from_ec_pem(private_pem.as_bytes()).expect("EC private key");
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::ES256), &claims, &signing_key)
            .expect("sign ES256");
        let verified =
            jsonwebtoken::decode::<Value>(&token, &key, &Validation::new(Algorithm::ES256)).expect("verifies");
        assert_eq!(verified.claims["user_id"], 3);

        assert!(refusal(JwtAlgorithm::Es256, crate::config::tests::P384_PUBLIC_PEM).contains("P-256"));
        refusal(JwtAlgorithm::Es256, RSA_2048_PUBLIC_PEM);
        refusal(JwtAlgorithm::Es256, &private_pem);
    }
}
