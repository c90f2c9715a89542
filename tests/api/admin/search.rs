//! The search across users, on PostgreSQL and SQLite alike: by recipient, types, read state,
//! sender, creation time and words (bound, `%` literal), newest first, in keyset pages that
//! neither repeat nor skip a row while notifications are added between them.

use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::{json, Value};

const SEARCH: &str = "/admin/api/notifications/";

async fn search(app: &TestApp, query: &str) -> Value {
    let (status, page) = app.get(&format!("{SEARCH}?{query}"), &staff_token(1)).await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    page
}

fn titles(page: &Value) -> Vec<String> {
    page["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|n| n["title"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn send(app: &TestApp, sender: i64, body: Value) -> i64 {
    let (status, created) = app.post("/auth/notifications/create/", &staff_token(sender), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["notification"]["id"].as_i64().expect("id")
}

async fn filters_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    send(&app, 100, json!({"user_id": 7, "title": "Approval needed: budget", "notification_type": "approval"})).await;
    send(&app, 100, json!({"user_id": 7, "title": "Standup", "notification_type": "meeting"})).await;
    send(&app, 200, json!({"user_id": 8, "title": "Lunch", "message": "the APPROVAL came through"})).await;
    let read = send(&app, 200, json!({"user_id": 8, "title": "100% done", "notification_type": "action_item"})).await;
    assert_eq!(app.post_empty(&format!("/auth/notifications/{read}/read/"), &token(8)).await.0, StatusCode::OK);

    assert_eq!(titles(&search(&app, "").await), ["100% done", "Lunch", "Standup", "Approval needed: budget"]);
    assert_eq!(titles(&search(&app, "user_id=7").await), ["Standup", "Approval needed: budget"]);
    assert_eq!(titles(&search(&app, "type=approval,action_item").await), ["100% done", "Approval needed: budget"]);
    assert_eq!(titles(&search(&app, "type=meeting&type=general").await), ["Lunch", "Standup"]);
    assert_eq!(titles(&search(&app, "is_read=true").await), ["100% done"]);
    assert_eq!(titles(&search(&app, "sender_id=200&is_read=false").await), ["Lunch"]);
    // Words in the title or the message, any case; `%` is a character, not a wildcard.
    assert_eq!(titles(&search(&app, "q=approval").await), ["Lunch", "Approval needed: budget"]);
    assert_eq!(titles(&search(&app, "q=100%25").await), ["100% done"]);
    assert_eq!(titles(&search(&app, "q=0%25%20d").await), ["100% done"]);
    assert_eq!(titles(&search(&app, "q=%25%25").await), Vec::<String>::new());
    assert_eq!(titles(&search(&app, "q=x'%20OR%201=1%20--").await), Vec::<String>::new(), "bound, not spliced");
    assert_eq!(titles(&search(&app, "user_id=7&q=standup").await), ["Standup"]);
    // Creation time: everything is after an hour ago, nothing before it.
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        search(&app, &format!("created_after={hour_ago}")).await["notifications"].as_array().map(Vec::len),
        Some(4)
    );
    assert_eq!(titles(&search(&app, &format!("created_before={hour_ago}")).await), Vec::<String>::new());

    // The console searches any well-formed type, a type taken off HERALD_NOTIFICATION_TYPES too.
    assert_eq!(search(&app, "type=alert").await["notifications"].as_array().map(Vec::len), Some(0));
    let (status, body) = app.get(&format!("{SEARCH}?type=Alert"), &staff_token(1)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "type", "{body}");
}

#[actix_web::test]
async fn the_search_filters_every_users_notifications_on_postgres() {
    filters_on(Backend::Postgres).await;
}

#[actix_web::test]
async fn the_search_filters_every_users_notifications_on_sqlite() {
    filters_on(Backend::Sqlite).await;
}

#[actix_web::test]
async fn keyset_pages_neither_repeat_nor_skip_while_notifications_are_added() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let mut expected = Vec::new();
    for i in 0..9 {
        expected.push(send(&app, 100, json!({"user_id": 1 + i % 3, "title": format!("n{i}")})).await);
    }
    expected.reverse();
    // Page by page, 4 at a time, while writers add 3 notifications before each next page.
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    let mut added = 0;
    loop {
        let query = match before {
            Some(id) => format!("limit=4&before={id}"),
            None => "limit=4".to_owned(),
        };
        let page = search(&app, &query).await;
        seen.extend(page["notifications"].as_array().expect("page").iter().map(|n| n["id"].as_i64().expect("id")));
        let writers = (0..3).map(|w| send(&app, 100, json!({"user_id": 1 + w, "title": format!("late {added}-{w}")})));
        futures_util::future::join_all(writers).await;
        added += 1;
        match page["next_before"].as_i64() {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every row present at the first page, once, in order; none added later");
}

#[actix_web::test]
async fn stored_preferences_of_every_user_are_filtered_and_paged() {
    let app = TestApp::spawn(Backend::Postgres).await;
    for (user, body) in [
        (3, json!({"approval": {"enabled": false}, "meeting": {"realtime": false}})),
        (1, json!({"approval": {"enabled": false}})),
        (2, json!({"approval": {"enabled": true, "realtime": false}})),
    ] {
        let (status, reply) =
            app.put("/auth/notifications/preferences/", &token(user), json!({"preferences": body})).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }
    let rows = |page: &Value| -> Vec<(i64, String)> {
        page["preferences"]
            .as_array()
            .expect("preferences")
            .iter()
            .map(|p| (p["user_id"].as_i64().expect("user"), p["notification_type"].as_str().expect("type").to_owned()))
            .collect()
    };
    let get = async |query: &str| {
        let (status, page) = app.get(&format!("/admin/api/preferences/?{query}"), &staff_token(1)).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        page
    };
    let disabled = get("type=approval&enabled=false").await;
    assert_eq!(rows(&disabled), [(1, "approval".to_owned()), (3, "approval".to_owned())]);
    assert_eq!(rows(&get("realtime=false").await), [(2, "approval".to_owned()), (3, "meeting".to_owned())]);
    // Pages of 2, ascending by user and type.
    let first = get("limit=2").await;
    assert_eq!(rows(&first), [(1, "approval".to_owned()), (2, "approval".to_owned())]);
    assert_eq!(first["next_after"], "2:approval");
    let second = get("limit=2&after=2:approval").await;
    assert_eq!(rows(&second), [(3, "approval".to_owned()), (3, "meeting".to_owned())]);
    assert_eq!(second["next_after"], Value::Null);
    let (status, bad) = app.get("/admin/api/preferences/?after=2", &staff_token(1)).await;
    assert_eq!((status, bad["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("after")));
}

#[derive(diesel::QueryableByName)]
struct IndexName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    indexname: String,
}

/// On PostgreSQL the words search has trigram indexes (pg_trgm, when the extension can be
/// created, as on Debian's and the official images' PostgreSQL): `bench/admin_search.sh` shows
/// the plan using them at 10,000,000 rows.
#[actix_web::test]
async fn on_postgres_the_words_search_has_trigram_indexes_on_title_and_message() {
    use diesel::RunQueryDsl;
    let db = TestDb::new();
    // `db` outlives the node (dropped last).
    let app = TestApp::spawn_on(DbGuard::None, &db.url, &[]).await;
    let names: Vec<String> = diesel::sql_query(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'notifications' AND indexdef LIKE '%gin_trgm_ops%' ORDER BY 1",
    )
    .load::<IndexName>(&mut db.connect())
    .expect("pg_indexes")
    .into_iter()
    .map(|row| row.indexname)
    .collect();
    assert_eq!(names, ["notifications_message_trgm", "notifications_title_trgm"]);
    send(&app, 100, json!({"user_id": 7, "title": "Quarterly budget"})).await;
    assert_eq!(titles(&search(&app, "q=BUDGET").await), ["Quarterly budget"]);
}
