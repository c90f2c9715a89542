//! SQLite acknowledges a commit only once it is on disk (`PRAGMA synchronous = FULL`) unless
//! the operator chooses `normal` (`HERALD_SQLITE_SYNCHRONOUS`); any other value is refused.

use crate::helpers::*;
use diesel::prelude::*;
use herald::config::Config;
use herald::db::{DbConnection, DbError};
use herald::startup::Node;
use std::time::Duration;

#[derive(QueryableByName)]
struct Synchronous {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    synchronous: i32,
}

/// `PRAGMA synchronous` of `n` pooled connections of a node built with `extra`, held at once
/// (so each is a connection of its own).
async fn synchronous_of_pooled_connections(extra: &[(&str, &str)], n: usize) -> Vec<i32> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("herald.db").display());
    let node = Node::build(test_config(&url, extra)).expect("node builds");
    let db = node.inbox().db().clone();
    let runs = (0..n).map(|_| {
        db.run(|conn| {
            let DbConnection::Sqlite(c) = conn else { unreachable!("a SQLite node") };
            let pragma = diesel::sql_query("PRAGMA synchronous").get_result::<Synchronous>(c)?;
            // Held a moment, so the other runs open connections of their own.
            std::thread::sleep(Duration::from_millis(200));
            Ok::<_, DbError>(pragma.synchronous)
        })
    });
    futures_util::future::join_all(runs).await.into_iter().map(|r| r.expect("PRAGMA synchronous")).collect()
}

#[actix_web::test]
async fn sqlite_connections_sync_every_commit_by_default() {
    // PRAGMA synchronous: 2 is FULL, 1 is NORMAL.
    assert_eq!(synchronous_of_pooled_connections(&[], 3).await, [2, 2, 2]);
}

#[actix_web::test]
async fn sqlite_normal_synchronous_is_an_explicit_choice() {
    let normal = synchronous_of_pooled_connections(&[("HERALD_SQLITE_SYNCHRONOUS", "normal")], 3).await;
    assert_eq!(normal, [1, 1, 1]);
    let full = synchronous_of_pooled_connections(&[("HERALD_SQLITE_SYNCHRONOUS", "FULL")], 1).await;
    assert_eq!(full, [2]);
}

#[test]
fn an_unknown_sqlite_synchronous_value_is_refused_at_start() {
    let refused = Config::from_lookup(|name| (name == "HERALD_SQLITE_SYNCHRONOUS").then(|| "off".to_owned()))
        .expect_err("`off` is refused");
    let message = refused.to_string();
    assert!(message.contains("HERALD_SQLITE_SYNCHRONOUS"), "{message}");
    assert!(message.contains("expected `full`"), "{message}");
    assert!(message.contains("(got \"off\")"), "{message}");

    let mut node =
        HeraldProcess::start(&["serve"], &[("HERALD_BIND", "127.0.0.1:0"), ("HERALD_SQLITE_SYNCHRONOUS", "extra")]);
    let exit = node.wait_exit(PROCESS_WAIT).expect("refused at start, not serving");
    assert_eq!(exit.code(), Some(2), "a configuration error; stderr:\n{}", node.stderr());
    assert!(node.stderr().contains("HERALD_SQLITE_SYNCHRONOUS: expected `full`"), "{}", node.stderr());
}
