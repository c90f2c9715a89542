//! How the broker fails, each error keeping the Redis or pool error that caused it as its
//! source. A failed publish is no error here: the broker never fails a publish (it queues and
//! retries, see `redis`); these are the failures of starting, of opening a channel connection
//! and of a command through the pool.

use std::time::Duration;

/// The broker could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The Redis URL(s) in `variable` are not usable.
    #[error("{variable}: {source}")]
    Redis {
        variable: &'static str,
        #[source]
        source: redis::RedisError,
    },
    /// The command pool for the Redis in `variable` could not be built.
    #[error("{variable}: {source}")]
    Pool {
        variable: &'static str,
        #[source]
        source: PoolError,
    },
}

/// The command pool could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The connection settings for `target` (a URL or the seed list) were refused.
    #[error("{target}: {source}")]
    Settings {
        target: String,
        #[source]
        source: redis::RedisError,
    },
    #[error(transparent)]
    Build(#[from] deadpool_redis::BuildError),
}

/// A command through the command pool failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// No connection could be checked out (pool wait, connect or recycle).
    #[error(transparent)]
    Checkout(#[from] deadpool_redis::PoolError),
    /// Redis answered with an error, or the connection failed.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// The cluster's slot map could not be read, or leaves a slot Herald uses without a master.
#[derive(Debug, thiserror::Error)]
pub enum SlotMapError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("CLUSTER SLOTS answered {0:?}")]
    NotAList(redis::Value),
    #[error("unexpected CLUSTER SLOTS answer {0:?}")]
    Unexpected(redis::Value),
    #[error("slot {0} has no master")]
    NoMaster(u16),
}

/// A channel connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The broker delivers every event to this node (memory): it has no channels.
    #[error("the memory broker has no channels: every event reaches this node")]
    NoChannels,
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("no connection within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    SlotMap(#[from] SlotMapError),
    /// A cluster master could not be connected to.
    #[error("{host}:{port}: {source}")]
    Master {
        host: String,
        port: u16,
        #[source]
        source: redis::RedisError,
    },
    #[error("{host}:{port}: no connection within {timeout:?}")]
    MasterTimeout { host: String, port: u16, timeout: Duration },
    /// Redis did not confirm the subscription to a node-wide channel (resync, control).
    #[error("{command} {channel} failed")]
    NodeChannel { command: &'static str, channel: &'static str },
}
