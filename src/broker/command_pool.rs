//! The pool of Redis connections for commands that are not the publish hot path: readiness
//! checks, the cluster topology poll, the cluster-wide limits: anything that needs a connection
//! of its own for a moment. `deadpool-redis`, on one Redis or on a Redis Cluster.
//!
//! Every wait is bounded: checkout waits at most `WAIT`, a new connection is made within
//! `CREATE`, and a pooled connection is checked with a PING (deadpool-redis' recycle) within
//! `RECYCLE` before it is handed out, so a connection broken by an outage is dropped there and
//! never answers a caller with a stale error; each command is bounded by `COMMAND`.
//! Publishing stays on its own multiplexed connection (`super::redis`): a pool checkout per
//! publish measured about 5x slower.

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
pub enum CommandPool {
    Standalone(deadpool_redis::Pool),
    Cluster(cluster::Pool),
}

impl CommandPool {
    /// One Redis at `url`. Connects lazily, on the first command.
    pub fn standalone(url: &str) -> Result<CommandPool, String> {
        let connection = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CREATE))
            .set_response_timeout(Some(COMMAND));
        let manager = deadpool_redis::Manager::new_with_config(url, connection).map_err(|e| format!("{url}: {e}"))?;
        deadpool_redis::Pool::builder(manager)
            .config(bounds())
            .runtime(Runtime::Tokio1)
            .build()
            .map(CommandPool::Standalone)
            .map_err(|e| e.to_string())
    }

    /// A Redis Cluster named by its seed nodes. Connects lazily, on the first command.
    pub fn cluster(seeds: &[String]) -> Result<CommandPool, String> {
        let manager = cluster::Manager::new(seeds.iter().map(String::as_str).collect(), false)
            .map_err(|e| format!("{seeds:?}: {e}"))?;
        cluster::Pool::builder(manager)
            .config(bounds())
            .runtime(Runtime::Tokio1)
            .build()
            .map(CommandPool::Cluster)
            .map_err(|e| e.to_string())
    }

    /// Runs one command (on a cluster, routed by its key, or to any node when it has none),
    /// checkout included within `WAIT + CREATE + COMMAND`.
    pub async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, String> {
        self.bounded(async {
            let mut conn = self.get().await?;
            command.query_async(&mut conn).await.map_err(|e| e.to_string())
        })
        .await
    }

    /// Runs commands one after another on one connection (one checkout), bounded as one `query`
    /// each; their answers, or the first failure.
    pub async fn query_each(&self, commands: &[redis::Cmd]) -> Result<Vec<redis::Value>, String> {
        let bound = (WAIT + CREATE) + COMMAND * commands.len().max(1) as u32;
        let run = async {
            let mut conn = self.get().await?;
            let mut answers = Vec::with_capacity(commands.len());
            for command in commands {
                answers.push(command.query_async(&mut conn).await.map_err(|e| e.to_string())?);
            }
            Ok(answers)
        };
        timeout(bound, run).await.unwrap_or_else(|_| Err(format!("no answer within {bound:?}")))
    }

    /// Runs a Lua script (EVALSHA, loading it first when Redis does not know it yet), bounded
    /// as `query`. On a cluster every key must be in one slot (give them one hash tag).
    pub async fn invoke<T: FromRedisValue>(&self, invocation: &redis::ScriptInvocation<'_>) -> Result<T, String> {
        self.bounded(async {
            let mut conn = self.get().await?;
            invocation.invoke_async(&mut conn).await.map_err(|e| e.to_string())
        })
        .await
    }

    async fn get(&self) -> Result<Pooled, String> {
        match self {
            CommandPool::Standalone(pool) => pool.get().await.map(Pooled::Standalone).map_err(|e| e.to_string()),
            CommandPool::Cluster(pool) => pool.get().await.map(Pooled::Cluster).map_err(|e| e.to_string()),
        }
    }

    async fn bounded<T>(&self, run: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
        timeout(WAIT + CREATE + COMMAND, run)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", WAIT + CREATE + COMMAND)))
    }
}

/// A connection checked out of either pool.
enum Pooled {
    Standalone(deadpool_redis::Connection),
    Cluster(cluster::Connection),
}

impl ConnectionLike for Pooled {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Pooled::Standalone(conn) => conn.req_packed_command(cmd),
            Pooled::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Pooled::Standalone(conn) => conn.req_packed_commands(cmd, offset, count),
            Pooled::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Pooled::Standalone(conn) => conn.get_db(),
            Pooled::Cluster(conn) => conn.get_db(),
        }
    }
}
