//! One import from each kind of source (PostgreSQL into PostgreSQL, SQLite into SQLite), checked
//! as a user of Herald sees it: every field of every row through the REST list, unread counts
//! and preferences, the WebSocket greeting and a `since` replay, and a new notification's id
//! past the imported ones. The rows include every kind the importer must not drop: ids with
//! gaps, an unknown type, a blank title, a malformed link, `data` that is not an object (all
//! kept and reported), and a user id Herald cannot hold (skipped and reported).

use super::source::{import, output, DjangoSource, SourceRow};
use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::{json, Value};

fn rows() -> Vec<SourceRow> {
    let row = SourceRow::new;
    vec![
        SourceRow { link: Some("https://example.com/m/3"), ..row(3, 7, "Kickoff") },
        SourceRow {
            kind: "approval",
            sender_id: None,
            read_at: Some("2025-03-05 06:00:00.000001"),
            created_at: "2025-03-04 06:00:00",
            ..row(5, 7, "Budget")
        },
        SourceRow { kind: "general", data: "{}", ..row(9, 8, "Hello") },
        SourceRow { kind: "legacy_alert", ..row(10, 7, "From the old days") },
        SourceRow { message: "blank title", ..row(20, 7, "   ") },
        SourceRow { link: Some("not a url"), ..row(21, 8, "Odd link") },
        SourceRow { data: "[1, 2]", ..row(40, 7, "Array data") },
        row(41, 0, "Nobody's"),
        SourceRow { read_at: Some("2025-03-06 00:00:00"), ..row(100, 8, "Read one") },
    ]
}

/// What Herald must show for a source row (the `data` as Herald keeps it).
fn expected(row: &SourceRow) -> Value {
    let data: Value = serde_json::from_str(row.data).expect("JSON");
    let data = if data.is_object() { data } else { json!({ "django_data": data }) };
    let stamp = |at: &str| format!("{}Z", at.replacen(' ', "T", 1));
    let micros = |at: &str| if at.contains('.') { stamp(at) } else { stamp(&format!("{at}.000000")) };
    json!({
        "id": row.id, "user_id": row.user_id, "sender_id": row.sender_id, "notification_type": row.kind,
        "title": row.title, "message": row.message, "data": data, "link": row.link,
        "is_read": row.read_at.is_some(), "read_at": row.read_at.map(micros), "created_at": micros(row.created_at),
        // Imported notifications were seen when read (the original had no seen state).
        "seen_at": row.read_at.map(micros), "archived_at": null, "snoozed_until": null,
    })
}

async fn imported_as_users_see_it(source: DjangoSource, backend: Backend) {
    source.insert(&rows());
    source.prefer(7, "meeting", false, true);
    source.prefer(8, "approval", true, false);
    let (guard, target) = DbGuard::new(backend);
    let dir = tempfile::tempdir().expect("temp dir");

    let dry = import(dir.path(), &target, &source, &["--dry-run"]).await;
    assert!(dry.status.success(), "{}", output(&dry));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("dry run (nothing written): read 9 rows, imported 0"));

    let out = import(dir.path(), &target, &source, &[]).await;
    assert!(out.status.success(), "{}", output(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("read 9 rows, imported 8, kept with remarks 4, skipped 1, id taken 0"), "{stdout}");
    assert!(stdout.contains("2 preferences"), "{stdout}");
    let report = std::fs::read_to_string(dir.path().join("herald-import-report.csv")).expect("the report");
    for line in ["41,skipped,", "10,kept,", "20,kept,", "21,kept,", "40,kept,"] {
        assert!(report.contains(line), "{line} in the report:\n{report}");
    }
    assert!(!report.contains("\n3,") && !report.contains("\n9,"), "good rows are not reported:\n{report}");

    let app = TestApp::spawn_on(guard, &target, &[]).await;
    check_users_lists(&app).await;
    check_sockets(&app).await;
    let (_, prefs) = app.get("/auth/notifications/preferences/", &token(7)).await;
    assert_eq!(prefs["preferences"]["meeting"], json!({"enabled": false, "realtime": true}), "{prefs}");
    let (_, prefs) = app.get("/auth/notifications/preferences/", &token(8)).await;
    assert_eq!(prefs["preferences"]["approval"], json!({"enabled": true, "realtime": false}), "{prefs}");
    // Herald's own ids continue past the imported ones.
    assert!(create_id(&app, 7, "new in Herald").await > 100);
}

/// Every field of every imported row, newest first, and the unread counts.
async fn check_users_lists(app: &TestApp) {
    for (user, unread) in [(7, 4), (8, 2)] {
        let (status, list) = app.get("/auth/notifications/?limit=50", &token(user)).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let mut want: Vec<Value> = rows().iter().filter(|r| r.user_id == user).map(expected).collect();
        want.reverse();
        assert_eq!(list["notifications"], Value::Array(want), "user {user}");
        assert_eq!(
            (list["unread_count"].as_i64(), list["total"].as_i64()),
            (Some(unread), Some(if user == 7 { 5 } else { 3 }))
        );
    }
}

/// The greeting counts what was imported, and `since` replays exactly the ids after it.
async fn check_sockets(app: &TestApp) {
    let (_, hello) = WsClient::open(app, &token(7)).await;
    assert_eq!((hello["unread_count"].as_i64(), hello["last_id"].as_i64()), (Some(4), Some(40)), "{hello}");
    let mut resumed = WsClient::connect(app, &token(7), Some(5)).await;
    let mut replayed = Vec::new();
    loop {
        let frame = resumed.next_json().await;
        match frame["type"].as_str() {
            Some("notification") => replayed.push(frame["notification"]["id"].as_i64().expect("id")),
            Some("sync_complete") => break,
            _ => {}
        }
    }
    assert_eq!(replayed, [10, 20, 40], "the imported ids after 5, once each, in order");
}

#[actix_web::test]
async fn a_postgres_source_is_imported_field_by_field_as_users_see_it() {
    imported_as_users_see_it(DjangoSource::postgres(), Backend::Postgres).await;
}

#[actix_web::test]
async fn a_sqlite_source_is_imported_into_the_embedded_sqlite_field_by_field() {
    imported_as_users_see_it(DjangoSource::sqlite(), Backend::Sqlite).await;
}

#[test]
fn the_help_documents_every_option() {
    let out = run_herald(&std::env::temp_dir(), &["import-django", "--help"], &[]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    for (option, says) in [
        ("--from", "postgres://"),
        ("--notifications-table", "[default: authentication_notification]"),
        ("--preferences-table", "[default: authentication_notificationpreference]"),
        ("--dry-run", "write nothing"),
        ("--batch", "[default: 5000]"),
        ("--verify", "exit 1 when a user differs"),
        ("--report", "[default: herald-import-report.csv]"),
    ] {
        assert!(help.contains(option) && help.contains(says), "{option} ({says}) in:\n{help}");
    }
    assert!(help.contains("Resumable") && help.contains("incremental"), "{help}");
}
