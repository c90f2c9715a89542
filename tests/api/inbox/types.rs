//! `HERALD_NOTIFICATION_TYPES`: a deployment's own types, with categories, on both backends.

use super::{CREATE, LIST, PREFERENCES};
use crate::helpers::*;
use awc::http::StatusCode;
use serde_json::{json, Value};

const TYPES: &str = "invoice.paid:billing,invoice.failed:billing,comment,deploy-done:ops,general";

async fn create(app: &TestApp, user: i64, kind: &str) -> (StatusCode, Value) {
    app.post(CREATE, &token(user), json!({"title": format!("a {kind}"), "notification_type": kind})).await
}

#[actix_web::test]
async fn configured_types_and_categories_replace_the_originals_on_both_backends() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let app = TestApp::spawn_with(backend, &[("HERALD_NOTIFICATION_TYPES", TYPES)]).await;
        let me = token(1);
        assert_eq!(create(&app, 1, "invoice.paid").await.0, StatusCode::CREATED);
        let (status, refused) = create(&app, 1, "meeting").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(refused["error"]["field"], "notification_type", "{refused}");
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("invoice.paid, invoice.failed, comment, deploy-done, general"), "{message}");

        let (status, prefs) = app.get(PREFERENCES, &me).await;
        assert_eq!(status, StatusCode::OK, "{prefs}");
        let types: Vec<&String> = prefs["preferences"].as_object().expect("map").keys().collect();
        assert_eq!(types, ["comment", "deploy-done", "general", "invoice.failed", "invoice.paid"], "{prefs}");
        assert_eq!(prefs["categories"]["billing"], json!({"enabled": true, "realtime": true}), "{prefs}");

        // A category switched off turns off each of its types; a type named too overrides it.
        let body = json!({"categories": {"billing": {"enabled": false}},
                          "preferences": {"invoice.failed": {"enabled": true, "realtime": false}}});
        let (status, prefs) = app.put(PREFERENCES, &me, body).await;
        assert_eq!(status, StatusCode::OK, "{prefs}");
        assert_eq!(prefs["preferences"]["invoice.paid"], json!({"enabled": false, "realtime": true}));
        assert_eq!(prefs["preferences"]["invoice.failed"], json!({"enabled": true, "realtime": false}));
        assert_eq!(prefs["categories"]["billing"], json!({"enabled": false, "realtime": false}), "{prefs}");
        assert_eq!(prefs["categories"]["ops"], json!({"enabled": true, "realtime": true}), "{prefs}");
        let (status, suppressed) = create(&app, 1, "invoice.paid").await;
        assert_eq!((status, &suppressed["suppressed"]), (StatusCode::OK, &json!(true)), "{suppressed}");
        assert_eq!(create(&app, 1, "invoice.failed").await.0, StatusCode::CREATED);

        for bad in [
            json!({"categories": {"marketing": {"enabled": false}}}),
            json!({"preferences": {"meeting": {"enabled": false}}}),
            json!({"categories": {"billing": {"email": false}}}),
        ] {
            let (status, reply) = app.put(PREFERENCES, &me, bad.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {reply}");
        }
        let (_, after) = app.get(PREFERENCES, &me).await;
        assert_eq!(after["preferences"], prefs["preferences"], "a refused PUT changed nothing");

        let (status, page) = app.get(&format!("{LIST}?type=invoice.failed"), &me).await;
        assert_eq!((status, page["total"].as_i64()), (StatusCode::OK, Some(1)), "{page}");
        let (status, page) = app.get(&format!("{LIST}?type=meeting"), &me).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        app.stop().await;
    }
}

/// A type taken off the list keeps its notifications readable: listed, read, deleted.
#[actix_web::test]
async fn a_type_removed_from_the_list_keeps_its_notifications_readable() {
    let db = TestDb::new();
    let before = TestApp::spawn_on(DbGuard::None, &db.url, &[]).await;
    let (status, made) = create(&before, 3, "mom_created").await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    before.stop().await;
    let after = TestApp::spawn_on(DbGuard::None, &db.url, &[("HERALD_NOTIFICATION_TYPES", TYPES)]).await;
    let page = list(&after, 3, "").await;
    assert_eq!(page["notifications"][0]["notification_type"], "mom_created", "{page}");
    let id = made["notification"]["id"].as_i64().expect("id");
    let (status, read) = after.post_empty(&format!("{LIST}{id}/read/"), &token(3)).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(create(&after, 3, "mom_created").await.0, StatusCode::BAD_REQUEST);
    after.stop().await;
}
