//! Retention of idempotency keys: a backlog of millions of expired keys drains in bounded
//! batches, each under the statement timeout, and a failing notification prune does not keep
//! the keys from being pruned.

use crate::helpers::*;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use std::time::{Duration, Instant};

const EXPIRED_KEYS: i64 = 2_000_000;
const FRESH_KEYS: i64 = 10;
/// Much shorter than one `DELETE` of every expired key takes, much longer than one batch.
const STATEMENT_TIMEOUT_MS: &str = "1000";
/// The whole prune, in a debug build on a busy machine: a bound, not a speed target.
const PRUNE_WITHIN: Duration = Duration::from_secs(300);

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).expect("count").n
}

fn key_count(conn: &mut PgConnection) -> i64 {
    count(conn, "SELECT count(*) AS n FROM idempotency_keys")
}

/// Keys claimed `age` ago (UTC, as Herald stores timestamps), `n` of them named `prefix:i`.
fn seed_keys(conn: &mut PgConnection, prefix: &str, n: i64, age: &str) {
    conn.batch_execute(&format!(
        "INSERT INTO idempotency_keys (caller_id, key, response_status, response_body, created_at) \
         SELECT i % 1000, '{prefix}:' || i, 201, '{{}}', (now() AT TIME ZONE 'UTC') - interval '{age}' \
         FROM generate_series(1, {n}) AS i"
    ))
    .expect("seed idempotency keys");
}

#[test]
fn two_million_expired_idempotency_keys_are_pruned_in_batches_under_the_statement_timeout() {
    let db = TestDb::new();
    let mut conn = db.connect();
    let seeding = Instant::now();
    seed_keys(&mut conn, "expired", EXPIRED_KEYS, "2 days");
    seed_keys(&mut conn, "fresh", FRESH_KEYS, "1 hour");
    println!("seeded {EXPIRED_KEYS} expired keys in {:?}", seeding.elapsed());

    let pruning = Instant::now();
    let mut prune = HeraldProcess::start(
        &["prune", "--older-than", "3650d"],
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("HERALD_DB_STATEMENT_TIMEOUT_MS", STATEMENT_TIMEOUT_MS),
            ("RUST_LOG", "warn"),
        ],
    );
    let exit = prune
        .wait_exit(PRUNE_WITHIN)
        .unwrap_or_else(|| panic!("prune still running after {PRUNE_WITHIN:?}; stderr:\n{}", prune.stderr()));
    let took = pruning.elapsed();
    let stdout = prune.read_stdout_until("both lines", |lines| lines.len() >= 2 || !exit.success());
    println!("prune of {EXPIRED_KEYS} expired keys: {exit} after {took:?}: {stdout:?}");
    assert!(
        exit.success(),
        "prune failed ({exit}) under a {STATEMENT_TIMEOUT_MS} ms statement timeout; stderr:\n{}",
        prune.stderr()
    );
    assert_eq!(stdout, ["deleted 0 notification(s)", &*format!("deleted {EXPIRED_KEYS} expired idempotency key(s)")]);
    assert_eq!(key_count(&mut conn), FRESH_KEYS, "every expired key gone, every fresh one kept");
}

/// The hourly run prunes notifications, then keys: a notification batch that fails (here its
/// table is locked past the lock timeout) is logged, and the keys are pruned all the same.
#[actix_web::test]
async fn a_failing_notification_prune_does_not_skip_the_key_prune() {
    let db = TestDb::new();
    let mut conn = db.connect();
    conn.batch_execute(
        "INSERT INTO notifications (user_id, notification_type, title, message, data, created_at) \
         VALUES (1, 'general', 'old', '', '{}', (now() AT TIME ZONE 'UTC') - interval '100 days')",
    )
    .expect("an old notification");
    seed_keys(&mut conn, "expired", 3, "2 days");
    let mut locker = db.connect();
    locker.batch_execute("BEGIN; LOCK TABLE notifications IN ACCESS EXCLUSIVE MODE").expect("lock notifications");

    let _node = TestApp::spawn_on(
        DbGuard::None,
        &db.url,
        &[("HERALD_RETENTION_DAYS", "30"), ("HERALD_DB_LOCK_TIMEOUT_MS", "200")],
    )
    .await;
    wait_until("the expired keys pruned while the notification prune fails", WAIT, async || key_count(&mut conn) == 0)
        .await;
    locker.batch_execute("ROLLBACK").expect("unlock");
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM notifications"), 1, "the locked notification stayed");
}
