//! `JwtConfig`: how tokens are verified, read from the `JWT_*` variables with the key and secret
//! policy of `keys` applied at once; a random development secret when `JWT_SECRET` is unset.

use super::keys::{self, JwtAlgorithm, KeyFileError};
use super::reader::Reader;
use super::values;
use super::vars::{JWT_ALGORITHM, JWT_AUDIENCE, JWT_ISSUER, JWT_LEEWAY_SECONDS, JWT_PUBLIC_KEY_FILE, JWT_SECRET};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A secret string whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How tokens are verified.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub algorithm: JwtAlgorithm,
    /// The HS256 secret: `JWT_SECRET`, else one generated at start (`secret_is_generated`).
    pub secret: Secret,
    /// True when `secret` was generated at start because `JWT_SECRET` was unset.
    pub secret_is_generated: bool,
    pub public_key_file: Option<PathBuf>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway: Duration,
}

/// Reads the `JWT_*` variables. The key file is checked for RS256/ES256, the secret for HS256
/// (also when `JWT_ALGORITHM` is refused, so every problem shows at once).
pub fn read(reader: &mut Reader) -> JwtConfig {
    let algorithm = reader.value(&JWT_ALGORITHM, str::parse::<JwtAlgorithm>);
    let public_key_file = reader.text(&JWT_PUBLIC_KEY_FILE).map(PathBuf::from);
    match &public_key_file {
        Some(path) if algorithm.uses_public_key() => {
            if let Err(why) = keys::read_public_key(algorithm, path) {
                reader.refuse(&JWT_PUBLIC_KEY_FILE, why);
            }
        }
        None if algorithm.uses_public_key() => reader.refuse(&JWT_PUBLIC_KEY_FILE, KeyFileError::Required),
        Some(path) if !path.is_file() => reader.refuse(&JWT_PUBLIC_KEY_FILE, KeyFileError::Missing(path.clone())),
        _ => {}
    }
    let configured = reader.text(&JWT_SECRET);
    if let Some(secret) = configured.as_deref().filter(|_| !algorithm.uses_public_key()) {
        if let Err(why) = keys::check_secret(secret) {
            reader.refuse(&JWT_SECRET, why);
        }
    }
    let leeway = reader.value(&JWT_LEEWAY_SECONDS, values::seconds);
    let (secret, secret_is_generated) = match configured {
        Some(secret) => (Secret(secret), false),
        None => (Secret(random_secret()), true),
    };
    JwtConfig {
        algorithm,
        secret,
        secret_is_generated,
        public_key_file,
        issuer: reader.text(&JWT_ISSUER),
        audience: reader.text(&JWT_AUDIENCE),
        leeway,
    }
}

pub(super) fn random_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
