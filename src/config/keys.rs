//! Which token keys and secrets a node accepts: the algorithm, an HS256 secret's strength
//! (length, no published placeholder, no secret committed to this repository beyond loopback)
//! and a PEM public key's type and size for RS256/ES256.
//! `Config` checks them at start; `auth::jwt` builds its verifying key with `public_key`.
//! Reading the variables is not here (see `jwt`).

use jsonwebtoken::DecodingKey;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The shortest accepted HS256 secret: the size of the hash, as RFC 7518 §3.2 requires.
pub const MIN_SECRET_BYTES: usize = 32;

/// Every `JWT_SECRET` value this repository documents or has documented as an example. They
/// are public, so anyone could mint `is_staff` tokens for a node using one: such a node refuses
/// to start. Add any new example here.
pub const PLACEHOLDER_SECRETS: &[&str] = &["change-me-to-a-long-random-secret"];

/// Every other `JWT_SECRET` value of 32 bytes or more committed to this repository: the test
/// helpers', the unit tests' and the one the benchmarks used before they drew a random secret per
/// run. Tests start nodes with them on loopback, as the generated development secret serves on
/// loopback only; a node bound to any other address refuses them (`Config::check_serving`), for
/// anyone who reads this repository could mint tokens with them. `tests/api/ops/secrets.rs`
/// finds every `JWT_SECRET` value in the repository and fails until it is listed here.
pub const COMMITTED_SECRETS: &[&str] = &[
    "herald-test-secret-0123456789abcdef",
    "bench-secret-0123456789abcdef-0123456789",
    "0123456789abcdef-secret-0123456789abcdef",
];

/// True for a secret committed to this repository (`COMMITTED_SECRETS`).
pub fn is_committed(secret: &str) -> bool {
    COMMITTED_SECRETS.iter().any(|committed| secret.eq_ignore_ascii_case(committed))
}

/// The smallest RSA modulus accepted for RS256 (NIST SP 800-131A: shorter keys are disallowed).
pub const MIN_RSA_KEY_BITS: usize = 2048;

/// The one algorithm a node accepts tokens signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    Hs256,
    Rs256,
    Es256,
}

impl JwtAlgorithm {
    /// RS256 and ES256 verify with a public key, HS256 with the shared secret.
    pub fn uses_public_key(self) -> bool {
        matches!(self, JwtAlgorithm::Rs256 | JwtAlgorithm::Es256)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("expected HS256, RS256 or ES256")]
pub struct UnknownAlgorithm;

impl FromStr for JwtAlgorithm {
    type Err = UnknownAlgorithm;

    fn from_str(raw: &str) -> Result<Self, UnknownAlgorithm> {
        match raw.to_ascii_uppercase().as_str() {
            "HS256" => Ok(JwtAlgorithm::Hs256),
            "RS256" => Ok(JwtAlgorithm::Rs256),
            "ES256" => Ok(JwtAlgorithm::Es256),
            _ => Err(UnknownAlgorithm),
        }
    }
}

/// Why an HS256 secret is refused. The message never repeats the secret.
#[derive(Debug, thiserror::Error)]
pub enum WeakSecret {
    #[error(
        "this is a placeholder published in Herald's repository, so anyone can sign tokens with it; \
         use a random secret of at least {MIN_SECRET_BYTES} bytes, e.g. `openssl rand -hex 32`"
    )]
    Placeholder,
    #[error(
        "{0} bytes is too short for HS256: use a random secret of at least {MIN_SECRET_BYTES} bytes, \
         e.g. `openssl rand -hex 32`"
    )]
    TooShort(usize),
}

/// Refuses an HS256 secret that anyone could guess: a documented placeholder, or fewer than
/// `MIN_SECRET_BYTES` bytes.
pub fn check_secret(secret: &str) -> Result<(), WeakSecret> {
    if PLACEHOLDER_SECRETS.iter().any(|placeholder| secret.eq_ignore_ascii_case(placeholder)) {
        return Err(WeakSecret::Placeholder);
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(WeakSecret::TooShort(secret.len()));
    }
    Ok(())
}

/// Why a PEM public key is refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM file")]
    NotPem,
    #[error("HS256 uses JWT_SECRET, not a public key")]
    NotForHs256,
    #[error("not an RSA public key (`PUBLIC KEY` or `RSA PUBLIC KEY`, at most 4096 bits): {0}")]
    NotRsaPkcs1(#[source] rsa::pkcs1::Error),
    #[error("not an RSA public key (`PUBLIC KEY` or `RSA PUBLIC KEY`, at most 4096 bits): {0}")]
    NotRsaSpki(#[source] rsa::pkcs8::spki::Error),
    #[error("the RSA key has {0} bits: at least {MIN_RSA_KEY_BITS} are needed")]
    RsaTooShort(usize),
    #[error("not a P-256 `PUBLIC KEY`, which ES256 needs: {0}")]
    NotP256(#[source] p256::pkcs8::spki::Error),
}

/// The verifying key in a PEM public key file: for RS256 an RSA key (`PUBLIC KEY` or
/// `RSA PUBLIC KEY`) of at least `MIN_RSA_KEY_BITS`, for ES256 a P-256 `PUBLIC KEY`. Anything
/// else (a private key, another curve, a short key, not PEM) is refused with the reason.
pub fn public_key(algorithm: JwtAlgorithm, pem: &[u8]) -> Result<DecodingKey, KeyError> {
    let text = std::str::from_utf8(pem).ok().filter(|text| text.contains("-----BEGIN ")).ok_or(KeyError::NotPem)?;
    match algorithm {
        JwtAlgorithm::Hs256 => Err(KeyError::NotForHs256),
        JwtAlgorithm::Rs256 => rsa_key(text),
        JwtAlgorithm::Es256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use p256::pkcs8::DecodePublicKey;
            let key = p256::PublicKey::from_public_key_pem(text).map_err(KeyError::NotP256)?;
            Ok(DecodingKey::from_ec_der(key.to_encoded_point(false).as_bytes()))
        }
    }
}

fn rsa_key(text: &str) -> Result<DecodingKey, KeyError> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    let key = if text.contains("-----BEGIN RSA PUBLIC KEY-----") {
        rsa::RsaPublicKey::from_pkcs1_pem(text).map_err(KeyError::NotRsaPkcs1)?
    } else {
        rsa::RsaPublicKey::from_public_key_pem(text).map_err(KeyError::NotRsaSpki)?
    };
    let bits = key.n().bits();
    if bits < MIN_RSA_KEY_BITS {
        return Err(KeyError::RsaTooShort(bits));
    }
    Ok(DecodingKey::from_rsa_raw_components(&key.n().to_bytes_be(), &key.e().to_bytes_be()))
}

/// Why `JWT_PUBLIC_KEY_FILE` is refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("required when JWT_ALGORITHM is RS256 or ES256")]
    Required,
    #[error("no readable file at {}", .0.display())]
    Missing(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Refused { path: PathBuf, source: KeyError },
}

/// Reads and parses the public key file, so a bad key stops the process at start.
pub fn read_public_key(algorithm: JwtAlgorithm, path: &Path) -> Result<DecodingKey, KeyFileError> {
    let pem = std::fs::read(path).map_err(|source| KeyFileError::Read { path: path.to_owned(), source })?;
    public_key(algorithm, &pem).map_err(|source| KeyFileError::Refused { path: path.to_owned(), source })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, Validation};
    use serde_json::Value;

    /// Public keys only (made with `openssl genpkey`, private halves discarded).
    pub(crate) const P384_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAERgTwlvjQzfN3OrI2A4GYb3oeKO2BegP1
TZU6ASjT805SD/1hNk3uEQDaSmRtADnVcfvq20iJ+39xVqn6AJm43ypfv3QI1SAh
usBKTYI4Pqb1qsYpkwjeb24Ev3m4FY3E
-----END PUBLIC KEY-----
";
    const RSA_1024_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDaPpTJPyntgc9NOeLXdMhcf0Pp
n4GBe5ZFyTHN4GLhT/yBbEXELU8TiRRUP69pfqee+S7icVm17ybYZdp3F+38PTIe
q1u6tBgIpVurTZKuHjAY0hsoYi/ASWgkfbpG/wwrXUUGqTGyvJH7ZfJP87LKTGr5
gIHlSh53s0Hd8JtuHQIDAQAB
-----END PUBLIC KEY-----
";
    const RSA_2048_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
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
            Err(why) => why.to_string(),
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
        refusal(JwtAlgorithm::Rs256, P384_PUBLIC_PEM);
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

        assert!(refusal(JwtAlgorithm::Es256, P384_PUBLIC_PEM).contains("P-256"));
        refusal(JwtAlgorithm::Es256, RSA_2048_PUBLIC_PEM);
        refusal(JwtAlgorithm::Es256, &private_pem);
    }
}
