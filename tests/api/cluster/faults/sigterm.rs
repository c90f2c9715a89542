//! SIGTERM: sockets close with 1001 (going away) and the process exits 0.

use crate::helpers::*;
use futures_util::StreamExt;
use std::process::Command;
use std::time::{Duration, Instant};

#[actix_web::test]
async fn sigterm_closes_sockets_with_1001() {
    let db = TestDb::new();
    let redis = RedisServer::start();
    let mut node = process_node(&db.url, &redis.url(), &[]);
    let client = awc::Client::builder().timeout(WAIT).finish();
    wait_ready_at(&client, &node.base_url()).await;
    let (mut ws, _) = open_at(&node, 4, None).await;

    let pid = node.pid().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
    assert!(status.success(), "kill -TERM {pid}: {status}");
    let signalled = Instant::now();
    let (code, before) = ws.expect_close().await;
    let closed_after = signalled.elapsed();
    assert_eq!(code, 1001, "going away; frames before it: {before:?}");
    // Complete the closing handshake (the client answers the close frame on its next read).
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.stream.next()).await;
    drop(ws);

    let exit = node
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("node did not exit within 15 s; stderr:\n{}", node.stderr()));
    let exited_after = signalled.elapsed();
    println!("sigterm: socket closed 1001 after {closed_after:?}; process exited ({exit}) after {exited_after:?}");
    assert!(exit.success(), "exit status 0 after SIGTERM, got {exit}; stderr:\n{}", node.stderr());
    drop(redis);
    drop(db);
}
