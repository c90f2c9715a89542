//! The test world, one copy of each helper: a fresh database per test (`db`), nodes in this
//! process and a JSON client (`app`), tokens, `herald` processes (`process`), servers started on
//! proven ports (`ports`), a WebSocket client (`ws_client`) and an SSE client (`sse_client`), what
//! a stream of pushed ids must look like (`streams`), a private Redis (`redis_server`) or Redis
//! Cluster (`redis_cluster`), nodes on them (`cluster`), a load writer (`load`), a TCP proxy that
//! cuts or stalls (`proxy`), the compose stack (`compose`), bounded waits (`wait`), headless
//! chromium over WebDriver (`browser`), and `src/` read as text (`source`, `imports`).
//! Tests take what they need with `use crate::helpers::*`: the names re-exported here.

mod app;
mod browser;
mod cluster;
mod compose;
mod db;
pub mod imports;
mod load;
mod ports;
mod process;
mod proxy;
pub mod redis_cluster;
mod redis_server;
pub mod source;
mod sse_client;
mod streams;
mod tokens;
mod wait;
mod ws_client;

/// `#[macro_export]` puts it at the crate root; here it comes with `use crate::helpers::*`.
pub use crate::on_both_backends;
pub use app::{
    create_concurrently, create_id, db_proxy, list, node_behind_db_proxy, parse_body, request, test_config,
    unread_count, TestApp,
};
pub use browser::{Browser, ENTER};
pub use cluster::{
    channel, cluster, open_at, process_node, ready_nodes, subscribers, wait_numsub, wait_ready, wait_ready_at,
    wait_readyz, wait_subscribed,
};
pub use compose::{run_bounded, Stack, MAIN_PORT, OPS_PORT};
pub use db::{admin_url, url_for_database, Backend, DbGuard, TestDb};
pub use load::{expected_ids, Created, Load, LoadWriter};
pub use ports::{candidate_ports, connected_ports, prove_listening, start_on_candidates, Unproven};
pub use process::{run_herald, HeraldProcess, PROCESS_WAIT};
pub use proxy::Proxy;
pub use redis_cluster::{
    blocking, cluster_on_redis_cluster, shard_channel, shard_subscribers, wait_shard_subscribers, RedisCluster,
    RESYNC_CHANNEL,
};
pub use redis_server::RedisServer;
pub use sse_client::{
    collect_sse_notifications, delivered, expect_no_more_sse_events, parse_event_id, sse_path, SseClient, SseEvent,
    SseRefused,
};
pub use streams::{
    assert_exactly_once_in_order, collect_notifications, expect_no_more_notifications, id_of, ids_of, is_repair,
    pushed_id, record, settle_after, stream_problems, Seen,
};
pub use tokens::{now_secs, sign, sign_with, staff_token, token};
pub use wait::{poll, poll_blocking, poll_blocking_every, poll_every, wait_for, wait_until};
pub use ws_client::{read_until, read_until_end, ws_url, Read, Refused, WsClient};

use std::time::Duration;

/// The test nodes' `JWT_SECRET`. Committed, so listed in `herald::config::COMMITTED_SECRETS`: it
/// serves on loopback binds only (a node on 0.0.0.0 refuses it; the compose stack draws its own).
pub const SECRET: &str = "herald-test-secret-0123456789abcdef";
/// The eight notification types of SPEC §3, spelled as clients send them.
pub const NOTIFICATION_TYPES: [&str; 8] = [
    "meeting",
    "meeting_response",
    "action_item",
    "general",
    "approval",
    "meeting_invitation",
    "meeting_scheduled",
    "mom_created",
];

/// Every wait in a test is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = env_logger::builder().is_test(true).try_init();
    }
}

/// Runs an async test body once per backend, each on a fresh database.
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* $name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: $crate::helpers::TestApp) $body

            $(#[$meta])*
            #[actix_web::test]
            async fn postgres() {
                run($crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await).await;
            }

            $(#[$meta])*
            #[actix_web::test]
            async fn sqlite() {
                run($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await;
            }
        }
    };
}
