//! The pool of Redis connections for commands off the publish path: readiness, the cluster's
//! slot map, the cluster-wide limits: anything that needs a connection of its own for a
//! moment. `deadpool-redis`, on one Redis or on a Redis Cluster.
//!
//! Every wait is bounded: checkout waits at most `WAIT`, a new connection is made within
//! `CREATE`, and a pooled connection is checked with a PING (deadpool-redis' recycle) within
//! `RECYCLE` before it is handed out, so a connection broken by an outage is dropped there and
//! never answers a caller with a stale error; each command is bounded by `COMMAND`. Publishing
//! does not use it: it stays on one multiplexed connection, cheaper than a checkout per publish.

use super::topology::Topology;
use crate::broker::error::{CommandError, PoolError};
use crate::config::redacted_url;
use deadpool_redis::{cluster, PoolConfig, Runtime, Timeouts};
use redis::aio::ConnectionLike;
use redis::FromRedisValue;
use std::time::Duration;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_millis(500);
const CREATE: Duration = Duration::from_secs(1);
const RECYCLE: Duration = Duration::from_millis(500);
/// The longest one command through the pool may take.
pub const COMMAND: Duration = Duration::from_secs(1);
/// Connections per node: these commands are short; a burst of handshakes (each a limit check)
/// queues for them within the limit check's own bound.
const MAX_SIZE: usize = 16;

/// Size and bounded waits of either pool.
fn bounds() -> PoolConfig {
    let mut config = PoolConfig::new(MAX_SIZE);
    config.timeouts = Timeouts { wait: Some(WAIT), create: Some(CREATE), recycle: Some(RECYCLE) };
    config
}

#[derive(Clone)]
pub struct CommandPool(Topology<deadpool_redis::Pool, cluster::Pool>);

/// A connection checked out of either pool.
type Pooled = Topology<deadpool_redis::Connection, cluster::Connection>;

impl CommandPool {
    /// One Redis at `url`. Connects lazily, on the first command.
    pub fn standalone(url: &str) -> Result<CommandPool, PoolError> {
        let connection = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CREATE))
            .set_response_timeout(Some(COMMAND));
        let manager = deadpool_redis::Manager::new_with_config(url, connection)
            .map_err(|source| PoolError::Settings { target: redacted_url(url), source })?;
        let pool = deadpool_redis::Pool::builder(manager).config(bounds()).runtime(Runtime::Tokio1).build()?;
        Ok(CommandPool(Topology::Standalone(pool)))
    }

    /// A Redis Cluster named by its seed nodes. Connects lazily, on the first command.
    pub fn cluster(seeds: &[String]) -> Result<CommandPool, PoolError> {
        let manager = cluster::Manager::new(seeds.iter().map(String::as_str).collect(), false).map_err(|source| {
            let target = seeds.iter().map(|seed| redacted_url(seed)).collect::<Vec<_>>().join(",");
            PoolError::Settings { target, source }
        })?;
        let pool = cluster::Pool::builder(manager).config(bounds()).runtime(Runtime::Tokio1).build()?;
        Ok(CommandPool(Topology::Cluster(pool)))
    }

    /// Runs one command (on a cluster, routed by its key, or to any node when it has none),
    /// checkout included within `WAIT + CREATE + COMMAND`.
    pub async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, CommandError> {
        self.bounded(async { Ok(command.query_async(&mut self.get().await?).await?) }).await
    }

    /// Runs commands one after another on one connection (one checkout), bounded as one `query`
    /// each; their answers, or the first failure.
    pub async fn query_each(&self, commands: &[redis::Cmd]) -> Result<Vec<redis::Value>, CommandError> {
        let bound = (WAIT + CREATE) + COMMAND * commands.len().max(1) as u32;
        let run = async {
            let mut conn = self.get().await?;
            let mut answers = Vec::with_capacity(commands.len());
            for command in commands {
                answers.push(command.query_async(&mut conn).await?);
            }
            Ok(answers)
        };
        timeout(bound, run).await.unwrap_or(Err(CommandError::Timeout(bound)))
    }

    /// Runs a Lua script (EVALSHA, loading it first when Redis does not know it yet), bounded
    /// as `query`. On a cluster every key must be in one slot (give them one hash tag).
    pub async fn invoke<T: FromRedisValue>(&self, invocation: &redis::ScriptInvocation<'_>) -> Result<T, CommandError> {
        self.bounded(async { Ok(invocation.invoke_async(&mut self.get().await?).await?) }).await
    }

    /// Whether Redis answers now (the checkout drops a connection an outage broke): a PING, or
    /// on a cluster `CLUSTER INFO` saying `cluster_state:ok`.
    pub async fn answers(&self) -> bool {
        match &self.0 {
            Topology::Standalone(_) => self.query::<String>(&redis::cmd("PING")).await.is_ok(),
            Topology::Cluster(_) => self
                .query::<String>(redis::cmd("CLUSTER").arg("INFO"))
                .await
                .is_ok_and(|info| info.lines().any(|line| line.trim() == "cluster_state:ok")),
        }
    }

    async fn get(&self) -> Result<Pooled, CommandError> {
        Ok(match &self.0 {
            Topology::Standalone(pool) => Topology::Standalone(pool.get().await?),
            Topology::Cluster(pool) => Topology::Cluster(pool.get().await?),
        })
    }

    async fn bounded<T>(
        &self,
        run: impl std::future::Future<Output = Result<T, CommandError>>,
    ) -> Result<T, CommandError> {
        let bound = WAIT + CREATE + COMMAND;
        timeout(bound, run).await.unwrap_or(Err(CommandError::Timeout(bound)))
    }
}

impl<S: ConnectionLike, C: ConnectionLike> ConnectionLike for Topology<S, C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Topology::Standalone(conn) => conn.req_packed_command(cmd),
            Topology::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Topology::Standalone(conn) => conn.req_packed_commands(cmd, offset, count),
            Topology::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Topology::Standalone(conn) => conn.get_db(),
            Topology::Cluster(conn) => conn.get_db(),
        }
    }
}
