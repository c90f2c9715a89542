//! An import stopped anywhere continues without a duplicate: killed mid-batch (SIGKILL: the
//! batch rolls back with its checkpoint), or stopped by Ctrl-C (the batch in flight finishes),
//! then run again to the end; `--verify` is clean and users see every row once. And the
//! cut-over loop: import, the original keeps serving (new rows, reads, unreads, deletes), import
//! again, `--verify` clean; a difference is named and fails `--verify`.

use super::source::{import, output, DjangoSource, SourceRow};
use crate::helpers::*;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

/// Source rows of the interrupted import: ids 2, 4, …, over `USERS` users.
const ROWS: i64 = 40_000;
const USERS: i64 = 200;

#[derive(QueryableByName)]
struct Figure {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn figure(db: &TestDb, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Figure>(&mut db.connect()).map_or(0, |f| f.n)
}

/// Where the checkpoint stands (0 before the first batch).
fn checkpoint(target: &TestDb) -> i64 {
    figure(target, "SELECT COALESCE(max(last_id), 0) AS n FROM django_import")
}

/// Starts an import of `source` into `target` in batches of 100 and waits until the
/// checkpoint passed `beyond`; the running process.
fn start_import(source: &DjangoSource, target: &TestDb, beyond: i64) -> HeraldProcess {
    let from = source.url();
    let args = ["import-django", "--from", from.as_str(), "--batch", "100"];
    let process = HeraldProcess::start(&args, &[("DATABASE_URL", target.url.as_str()), ("RUST_LOG", "warn")]);
    poll_blocking(PROCESS_WAIT, || if checkpoint(target) > beyond { Ok(()) } else { Err(()) })
        .unwrap_or_else(|()| panic!("the import did not pass id {beyond}:\n{}", process.stderr()));
    process
}

/// Every batch committed is whole: Herald holds exactly the source rows up to the checkpoint.
fn assert_whole_batches(target: &TestDb) -> i64 {
    let at = checkpoint(target);
    assert!(at > 0 && at < ROWS * 2, "stopped mid-way (checkpoint {at}); more rows would make this test meaningful");
    let held = figure(target, "SELECT count(*) AS n FROM notifications");
    assert_eq!(held, at / 2, "exactly the rows up to the checkpoint, once each");
    at
}

#[actix_web::test]
async fn an_import_killed_mid_batch_or_interrupted_continues_without_a_duplicate() {
    let source = DjangoSource::postgres();
    source.execute(&format!(
        "INSERT INTO authentication_notification (id, user_id, sender_id, notification_type, title, message, data, \
         link, is_read, read_at, created_at) SELECT g * 2, 1 + g % {USERS}, NULL, 'general', 'n' || g, '', '{{}}', \
         NULL, g % 3 = 0, CASE WHEN g % 3 = 0 THEN now() END, now() FROM generate_series(1, {ROWS}) AS g;"
    ));
    let target = TestDb::new();
    // Nothing else runs on this test's runtime yet: waiting here blocks nobody.
    let mut first = start_import(&source, &target, 0);
    first.kill();
    let at = assert_whole_batches(&target);
    let mut second = start_import(&source, &target, at);
    let sent = std::process::Command::new("kill").args(["-INT", &second.pid().to_string()]).status();
    assert!(sent.is_ok_and(|s| s.success()), "SIGINT sent");
    let status = second.wait_exit(PROCESS_WAIT).expect("exits after the batch in flight");
    assert_eq!(status.code(), Some(1), "interrupted: {}", second.stderr());
    let stdout = second.stdout_so_far().join("\n");
    assert!(stdout.contains("interrupted: run the same command again to continue"), "{stdout}");
    assert!(assert_whole_batches(&target) > at, "the second run went on from the first's checkpoint");

    let dir = tempfile::tempdir().expect("temp dir");
    let last = import(dir.path(), &target.url, &source, &["--batch", "1000"]).await;
    assert!(last.status.success(), "{}", output(&last));
    let verify = import(dir.path(), &target.url, &source, &["--verify"]).await;
    assert!(verify.status.success(), "{}", output(&verify));
    assert!(String::from_utf8_lossy(&verify.stdout).contains(&format!("{USERS} users compared, 0 differ")));
    let app = TestApp::spawn_on(DbGuard::None, &target.url, &[]).await;
    for user in [1, 77, USERS] {
        let (_, list) = app.get("/auth/notifications/?limit=1", &token(user)).await;
        let all = figure(&target, &format!("SELECT count(*) AS n FROM notifications WHERE user_id = {user}"));
        assert_eq!((list["total"].as_i64(), all), (Some(ROWS / USERS), ROWS / USERS), "user {user}: {list}");
    }
}

#[actix_web::test]
async fn a_second_import_brings_the_sources_new_rows_reads_unreads_and_deletes_and_verify_is_clean() {
    let source = DjangoSource::sqlite();
    let row = SourceRow::new;
    let read = |r: SourceRow| SourceRow { read_at: Some("2025-03-05 06:00:00"), ..r };
    source.insert(&[row(1, 7, "one"), read(row(2, 7, "two")), row(3, 7, "three"), row(4, 8, "four")]);
    let target = TestDb::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let first = import(dir.path(), &target.url, &source, &[]).await;
    assert!(first.status.success(), "{}", output(&first));
    let app = TestApp::spawn_on(DbGuard::None, &target.url, &[]).await;
    assert_eq!(unread_count(&app, 7).await, 2);

    // The original keeps serving meanwhile.
    source.insert(&[row(5, 7, "five"), row(6, 8, "six")]);
    source.execute(
        "UPDATE authentication_notification SET is_read = 1, read_at = '2025-04-01 10:00:00' WHERE id = 1; \
         UPDATE authentication_notification SET is_read = 0, read_at = NULL WHERE id = 2; \
         DELETE FROM authentication_notification WHERE id = 3;",
    );
    let second = import(dir.path(), &target.url, &source, &[]).await;
    assert!(second.status.success(), "{}", output(&second));
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(said.contains("read 2 rows, imported 2") && said.contains("1 read, 1 unread, 1 deleted"), "{said}");
    let verify = import(dir.path(), &target.url, &source, &["--verify"]).await;
    assert!(verify.status.success(), "{}", output(&verify));

    let (_, list) = app.get("/auth/notifications/", &token(7)).await;
    let seen: Vec<(i64, bool)> = list["notifications"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|n| (n["id"].as_i64().expect("id"), n["is_read"].as_bool().expect("read")))
        .collect();
    assert_eq!(seen, [(5, false), (2, false), (1, true)], "{list}");
    assert_eq!(list["unread_count"], 2);
    assert_eq!(list["notifications"][2]["read_at"], "2025-04-01T10:00:00.000000Z");
    let (_, hello) = WsClient::open(&app, &token(7)).await;
    assert_eq!(hello["unread_count"], 2, "{hello}");

    // A difference is named, and fails --verify.
    let (status, _) = app.delete("/auth/notifications/5/delete/", &token(7)).await;
    assert_eq!(status, awc::http::StatusCode::OK);
    let differs = import(dir.path(), &target.url, &source, &["--verify"]).await;
    assert_eq!(differs.status.code(), Some(1), "{}", output(&differs));
    let said = String::from_utf8_lossy(&differs.stdout);
    assert!(said.contains("user 7: source 3 rows, 2 unread, newest 5; herald 2 rows, 1 unread, newest 2"), "{said}");
}
