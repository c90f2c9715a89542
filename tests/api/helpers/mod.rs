//! The test world, one copy of each helper: a fresh database per test (`db`), nodes in this
//! process on port 0 and a JSON client (`app`), tokens (`tokens`), `herald` processes
//! (`process`), a WebSocket client and frame readers (`ws_client`), what a stream of pushed ids
//! must look like (`streams`), a private Redis (`redis_server`), a private Redis Cluster and
//! nodes on it (`redis_cluster`), this repository's docker-compose stack (`compose`), a cluster of nodes on both (`cluster`), ports proven held by
//! the process that uses them (`ports`), a TCP proxy that cuts or stalls connections (`proxy`),
//! and bounded waits on a condition (`wait`). Everything is cleaned up on Drop; every wait is
//! bounded.

#![allow(dead_code)]

mod app;
mod cluster;
mod compose;
mod db;
pub mod imports;
mod ports;
mod process;
mod proxy;
mod redis_cluster;
mod redis_server;
pub mod source;
mod streams;
mod tokens;
mod wait;
mod ws_client;

/// `#[macro_export]` puts it at the crate root; here it comes with `use crate::helpers::*`.
pub use crate::on_both_backends;
pub use app::*;
pub use cluster::*;
pub use compose::*;
pub use db::*;
pub use ports::*;
pub use process::*;
pub use proxy::*;
pub use redis_cluster::*;
pub use redis_server::*;
pub use streams::*;
pub use tokens::*;
pub use wait::*;
pub use ws_client::*;

use std::time::Duration;

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
