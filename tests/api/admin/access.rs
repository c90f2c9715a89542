//! Only staff (`is_staff` or the `notifications:admin` scope) get in: others 403 before any
//! work, no token or an expired one 401, and the requests of staff count against their budget.

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use serde_json::json;

/// Every admin route, with a path id that exists.
fn routes(id: i64) -> Vec<(Method, String)> {
    vec![
        (Method::GET, "/admin/api/notifications/".to_owned()),
        (Method::GET, "/admin/api/audit/".to_owned()),
        (Method::GET, "/admin/api/preferences/".to_owned()),
        (Method::POST, "/admin/api/broadcast/preview/".to_owned()),
        (Method::GET, format!("/admin/api/notifications/{id}/")),
        (Method::POST, format!("/admin/api/notifications/{id}/read/")),
        (Method::POST, format!("/admin/api/notifications/{id}/unread/")),
        (Method::DELETE, format!("/admin/api/notifications/{id}/")),
        (Method::POST, format!("/admin/api/notifications/{id}/resend/")),
        (Method::GET, "/admin/api/users/5/".to_owned()),
        (Method::PUT, "/admin/api/users/5/preferences/".to_owned()),
        (Method::GET, "/admin/api/users/5/sockets/".to_owned()),
        (Method::POST, "/admin/api/users/5/disconnect/".to_owned()),
        (Method::GET, "/admin/api/cluster/".to_owned()),
    ]
}

async fn status_of(app: &TestApp, method: &Method, path: &str, token: Option<&str>) -> (StatusCode, serde_json::Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (status, _, body) = app.raw(method.clone(), path, &headers, Vec::new()).await;
    (status, body)
}

#[actix_web::test]
async fn every_admin_route_refuses_callers_who_are_not_staff_and_changes_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let id = create_id(&app, 5, "private").await;
    let sender = sign(&json!({"user_id": 9, "exp": now_secs() + 3600, "scope": "notifications:send"}));
    let expired = sign(&json!({"user_id": 9, "exp": now_secs() - 60, "is_staff": true}));
    for (method, path) in routes(id) {
        for (who, token) in [("the owner", token(5)), ("a sender service", sender.clone())] {
            let (status, body) = status_of(&app, &method, &path, Some(&token)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {method} {path}: {body}");
            assert_eq!(body["error"]["code"], "forbidden", "{body}");
        }
        assert_eq!(status_of(&app, &method, &path, None).await.0, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(status_of(&app, &method, &path, Some(&expired)).await.0, StatusCode::UNAUTHORIZED, "{path}");
    }
    // Nothing was read, marked or deleted.
    assert_eq!(unread_count(&app, 5).await, 1);
    let (status, audit) = app.get("/admin/api/audit/", &staff_token(1)).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    assert_eq!(audit["records"], json!([]));
}

#[actix_web::test]
async fn the_admin_scope_opens_the_console_without_is_staff() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    create_id(&app, 5, "hello").await;
    let admin = sign(&json!({"user_id": 2, "exp": now_secs() + 3600, "scopes": ["notifications:admin"]}));
    let (status, page) = app.get("/admin/api/notifications/", &admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["notifications"][0]["title"], "hello");
    // The admin scope alone does not make the caller a sender.
    let (status, _) = app.post("/auth/notifications/create/", &admin, json!({"user_id": 5, "title": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn staff_requests_in_the_console_count_against_their_budget() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("HERALD_RATE_LIMIT_PER_SECOND", "1"), ("HERALD_RATE_LIMIT_BURST", "3")],
    )
    .await;
    let staff = staff_token(1);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.get("/admin/api/notifications/", &staff).await.0.as_u16());
    }
    // 3 reads at once (4 if a second passed), then 429; the same staff token's other
    // requests are not limited (services' are not).
    assert!(statuses.starts_with(&[200, 200, 200]) && statuses.ends_with(&[429]), "{statuses:?}");
    assert_eq!(app.get("/auth/notifications/unread-count/", &staff).await.0, StatusCode::OK);
}
