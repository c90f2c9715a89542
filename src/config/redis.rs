//! `RedisTarget`: where the fan-out between nodes runs, read from `REDIS_URL` (one Redis) or
//! `REDIS_CLUSTER_URLS` (a Redis Cluster's seed nodes), never both.

use super::reader::Reader;
use super::vars::{REDIS_CLUSTER_URLS, REDIS_URL};

/// Where the Redis fan-out runs.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// A `redis://` or `rediss://` URL, as given.
fn redis_url(raw: &str) -> Result<String, BadRedisUrl> {
    if raw.starts_with("redis://") || raw.starts_with("rediss://") {
        Ok(raw.to_owned())
    } else {
        Err(BadRedisUrl::NotRedis(raw.to_owned()))
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
