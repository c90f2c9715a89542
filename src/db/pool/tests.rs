//! `Db::run` and its pool: which connections are reused and which are retired, and what a
//! caller that stops waiting leaves behind (nothing: its write rolls back).

use super::*;
use crate::db::timeouts::DbTimeouts;
use crate::db::transactions::Transactions;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::{RunQueryDsl, SqliteConnection};

/// One connection, so a connection that is not retired is the one handed out next.
fn single_connection(dir: &tempfile::TempDir, pool_wait: Duration) -> Db {
    let timeouts = DbTimeouts {
        pool_wait,
        statement: Duration::from_millis(100),
        lock: Duration::from_millis(100),
        idle_in_transaction: Duration::from_secs(1),
        keepalive: Duration::from_secs(1),
    };
    let settings = ConnectionSettings { timeouts, sqlite_synchronous: crate::config::SqliteSynchronous::Full };
    Db::new(&DatabaseUrl::Sqlite(dir.path().join("herald.db")), 1, settings)
}

fn sqlite(conn: &mut DbConnection) -> &mut SqliteConnection {
    match conn {
        DbConnection::Sqlite(c) => c,
        DbConnection::Pg(_) => unreachable!("these tests use SQLite"),
    }
}

/// Marks the connection: a temporary table lives as long as its connection.
async fn mark(db: &Db) {
    db.run(|conn| Ok(sqlite(conn).batch_execute("CREATE TEMP TABLE marker (x INTEGER)")?)).await.expect("mark");
}

/// Whether the next connection handed out is the marked one, and whether it is inside a
/// transaction (then `BEGIN` fails).
async fn next_connection(db: &Db) -> Result<(bool, bool), DbError> {
    db.run(|conn| {
        let c = sqlite(conn);
        let marked = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "EXISTS (SELECT 1 FROM sqlite_temp_master WHERE name = 'marker')",
        ))
        .get_result::<bool>(c)?;
        let in_transaction = c.batch_execute("BEGIN; ROLLBACK").is_err();
        Ok((marked, in_transaction))
    })
    .await
}

#[actix_web::test]
async fn a_clean_connection_is_reused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = single_connection(&dir, Duration::from_secs(1));
    mark(&db).await;
    assert_eq!(next_connection(&db).await.expect("run"), (true, false));
}

#[actix_web::test]
async fn a_connection_a_panic_left_in_a_transaction_is_retired() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = single_connection(&dir, Duration::from_secs(1));
    mark(&db).await;
    let panicked = db
        .run(|conn| -> Result<(), DbError> {
            AnsiTransactionManager::begin_transaction(sqlite(conn))?;
            panic!("a bug inside a transaction");
        })
        .await;
    assert!(matches!(panicked, Err(DbError::Failed { .. })), "{panicked:?}");
    assert_eq!(next_connection(&db).await.expect("run"), (false, false), "a fresh connection, no transaction");
}

#[actix_web::test]
async fn a_connection_a_panic_left_outside_a_transaction_is_retired() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = single_connection(&dir, Duration::from_secs(1));
    mark(&db).await;
    let panicked = db.run(|_| -> Result<(), DbError> { panic!("a bug") }).await;
    assert!(matches!(panicked, Err(DbError::Failed { .. })), "{panicked:?}");
    assert_eq!(next_connection(&db).await.expect("run"), (false, false));
}

#[actix_web::test]
async fn a_connection_returned_with_its_transaction_open_is_retired() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = single_connection(&dir, Duration::from_secs(1));
    mark(&db).await;
    db.run(|conn| Ok(AnsiTransactionManager::begin_transaction(sqlite(conn))?)).await.expect("begin");
    assert_eq!(next_connection(&db).await.expect("run"), (false, false));
}

/// Rows in the test table `t` (made on first use).
async fn rows(db: &Db) -> Result<i64, DbError> {
    db.run(|conn| {
        let c = sqlite(conn);
        c.batch_execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")?;
        Ok(diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM t)")).get_result(c)?)
    })
    .await
}

/// Inserts a row into `t` in a write transaction that takes `slow` before committing.
async fn slow_insert(db: &Db, slow: Duration) -> Result<(), DbError> {
    db.run(move |conn| {
        sqlite(conn).write_transaction(|c| {
            c.batch_execute("INSERT INTO t VALUES (1)")?;
            std::thread::sleep(slow);
            Ok(())
        })
    })
    .await
}

#[actix_web::test]
async fn a_write_whose_caller_stopped_waiting_rolls_back_instead_of_committing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = single_connection(&dir, Duration::from_secs(1));
    assert_eq!(rows(&db).await.expect("rows"), 0);
    slow_insert(&db, Duration::ZERO).await.expect("a prompt write commits");
    assert_eq!(rows(&db).await.expect("rows"), 1);

    let slow = db.bound() + Duration::from_millis(500);
    let answer = slow_insert(&db, slow).await;
    assert!(matches!(answer, Err(DbError::Unavailable { .. })), "{answer:?}");
    let deadline = Instant::now() + slow + Duration::from_secs(5);
    let after = loop {
        match rows(&db).await {
            Err(DbError::Unavailable { .. }) if Instant::now() < deadline => continue,
            other => break other.expect("rows once the slow write returned"),
        }
    };
    assert_eq!(after, 1, "the write answered 503 was rolled back");
}

#[actix_web::test]
async fn a_caller_stops_waiting_at_the_bound_and_the_late_connection_is_retired() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = single_connection(&dir, Duration::from_secs(1));
    mark(&db).await;
    let hang = db.bound() + Duration::from_millis(1500);
    let started = Instant::now();
    let hung = db
        .run(move |_| {
            std::thread::sleep(hang);
            Ok(())
        })
        .await;
    let waited = started.elapsed();
    assert!(matches!(hung, Err(DbError::Unavailable { .. })), "{hung:?}");
    assert!(waited >= db.bound() && waited < hang, "waited {waited:?} for a bound of {:?}", db.bound());
    // Until the hung closure returns, its connection is taken (503 after the pool wait).
    let deadline = Instant::now() + hang + Duration::from_secs(5);
    let next = loop {
        match next_connection(&db).await {
            Err(DbError::Unavailable { .. }) if Instant::now() < deadline => continue,
            other => break other.expect("a connection once the hung closure returned"),
        }
    };
    assert_eq!(next, (false, false), "the connection that answered late was retired");
}
