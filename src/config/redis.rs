//! `RedisTarget`: where the fan-out between nodes runs, read from `REDIS_URL` (one Redis) or
//! `REDIS_CLUSTER_URLS` (a Redis Cluster's seed nodes), never both. A URL may carry the
//! password Redis requires (`redis://:PASSWORD@host:6379/0`, percent-encoded; a cluster's seeds
//! carry it for every node); `Debug` and every error show it as `***` (`redacted_url`).

use super::reader::Reader;
use super::vars::{REDIS_CLUSTER_URLS, REDIS_URL};
use std::fmt;

/// Where the Redis fan-out runs.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One Redis (`REDIS_URL`): classic pub/sub.
    Standalone(String),
    /// A Redis Cluster named by its seed nodes (`REDIS_CLUSTER_URLS`): sharded pub/sub.
    Cluster(Vec<String>),
}

#[derive(Debug, thiserror::Error)]
pub enum BadRedisUrl {
    #[error("expected redis://host:port, got {0:?}")]
    NotRedis(String),
    #[error("expected redis://host:port[,redis://host:port...]")]
    NoSeeds,
    #[error("set either REDIS_URL (one Redis) or REDIS_CLUSTER_URLS (a Redis Cluster), not both")]
    Both,
}

impl fmt::Debug for RedisTarget {
    /// Never prints a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisTarget::Standalone(url) => f.debug_tuple("Standalone").field(&redacted_url(url)).finish(),
            RedisTarget::Cluster(seeds) => {
                f.debug_tuple("Cluster").field(&seeds.iter().map(|s| redacted_url(s)).collect::<Vec<_>>()).finish()
            }
        }
    }
}

/// `url` with its password (if it has one) shown as `***`, for errors and logs.
pub fn redacted_url(url: &str) -> String {
    if let Ok(mut parsed) = url::Url::parse(url) {
        if parsed.password().is_some() {
            let _ = parsed.set_password(Some("***"));
            return parsed.to_string();
        }
        if !parsed.cannot_be_a_base() || !url.contains('@') {
            return url.to_owned();
        }
    }
    // Not a URL with a host: whatever precedes an `@` may be a password.
    match url.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => url.to_owned(),
    }
}

/// A `redis://` or `rediss://` URL, as given.
fn redis_url(raw: &str) -> Result<String, BadRedisUrl> {
    if raw.starts_with("redis://") || raw.starts_with("rediss://") {
        Ok(raw.to_owned())
    } else {
        Err(BadRedisUrl::NotRedis(redacted_url(raw)))
    }
}

/// Comma-separated seed URLs, at least one.
fn seeds(raw: &str) -> Result<Vec<String>, BadRedisUrl> {
    let seeds =
        raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(redis_url).collect::<Result<Vec<_>, _>>()?;
    if seeds.is_empty() {
        return Err(BadRedisUrl::NoSeeds);
    }
    Ok(seeds)
}

/// The configured Redis; `None`: the in-process broker.
pub fn read(reader: &mut Reader) -> Option<RedisTarget> {
    let url = reader.optional(&REDIS_URL, redis_url);
    let cluster = reader.optional(&REDIS_CLUSTER_URLS, seeds);
    match (url, cluster) {
        (Some(_), Some(_)) => {
            reader.refuse(&REDIS_CLUSTER_URLS, BadRedisUrl::Both);
            None
        }
        (Some(url), None) => Some(RedisTarget::Standalone(url)),
        (None, Some(seeds)) => Some(RedisTarget::Cluster(seeds)),
        (None, None) => None,
    }
}
