//! `JwtConfig`: how tokens are verified, read from the `JWT_*` variables with the key and secret
//! policy of `keys` applied at once; a random development secret when `JWT_SECRET` is unset; an
//! identity provider's JWKS (`JwksConfig`) instead of a key when `JWT_JWKS_URL` is set.

use super::keys::{self, JwtAlgorithm, KeyFileError};
use super::reader::Reader;
use super::values;
use super::vars::{
    JWT_ALGORITHM, JWT_AUDIENCE, JWT_ISSUER, JWT_JWKS_COOLDOWN_SECONDS, JWT_JWKS_REFRESH_SECONDS, JWT_JWKS_URL,
    JWT_LEEWAY_SECONDS, JWT_PUBLIC_KEY_FILE, JWT_SECRET, JWT_USER_CLAIM,
};
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
    /// An identity provider's key set: when set, the only keys tokens are verified with.
    pub jwks: Option<JwksConfig>,
    /// The claim holding the user id (`JWT_USER_CLAIM`); `None`: `user_id`, else `sub`.
    pub user_claim: Option<String>,
}

/// Where and how often the JWKS is fetched (`JWT_JWKS_*`).
#[derive(Debug, Clone)]
pub struct JwksConfig {
    pub url: url::Url,
    pub refresh_every: Duration,
    pub cooldown: Duration,
}

impl JwtConfig {
    /// Whether tokens are verified with a shared secret (HS256 without a JWKS).
    pub fn uses_secret(&self) -> bool {
        self.algorithm == JwtAlgorithm::Hs256 && self.jwks.is_none()
    }
}

/// Reads the `JWT_*` variables. The key file is checked for RS256/ES256, the secret for HS256
/// (also when `JWT_ALGORITHM` is refused, so every problem shows at once).
pub fn read(reader: &mut Reader) -> JwtConfig {
    let algorithm = reader.value(&JWT_ALGORITHM, str::parse::<JwtAlgorithm>);
    let public_key_file = reader.text(&JWT_PUBLIC_KEY_FILE).map(PathBuf::from);
    let jwks = read_jwks(reader);
    match &public_key_file {
        Some(_) if jwks.is_some() => reader.refuse(&JWT_PUBLIC_KEY_FILE, "set either this or JWT_JWKS_URL, not both"),
        None if jwks.is_some() => {}
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
    if let Some(secret) = configured.as_deref().filter(|_| !algorithm.uses_public_key() && jwks.is_none()) {
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
        jwks,
        user_claim: reader.text(&JWT_USER_CLAIM),
    }
}

/// `JWT_JWKS_URL` and its intervals: `https`, or `http` to a loopback host (a test's issuer).
fn read_jwks(reader: &mut Reader) -> Option<JwksConfig> {
    let url = reader.optional(&JWT_JWKS_URL, |raw| {
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" => Ok(url),
            "http" if loopback => Ok(url),
            _ => Err("must be an https URL (http only to a loopback host)".to_owned()),
        }
    });
    let refresh_every = reader.value(&JWT_JWKS_REFRESH_SECONDS, values::positive_seconds);
    let cooldown = reader.value(&JWT_JWKS_COOLDOWN_SECONDS, values::positive_seconds);
    url.map(|url| JwksConfig { url, refresh_every, cooldown })
}

pub(super) fn random_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
