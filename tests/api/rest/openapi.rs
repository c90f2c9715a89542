//! `GET /openapi.json` describes what the node serves: its operations are exactly the routes the
//! node registers (`herald::http::ROUTES`, the list `http::configure` iterates), the live node
//! answers each documented path with exactly the documented methods, and every operation
//! documents its errors as the SPEC envelope. (bench/api_fuzz.sh checks every reply against the
//! document.) The document a default node on PostgreSQL serves is committed as `openapi.json`
//! at the repository root, and stays equal to it (`HERALD_BLESS=1` rewrites the file).

use crate::helpers::*;
use awc::http::{Method, StatusCode};
use herald::http::ROUTES;
use serde_json::Value;
use std::collections::BTreeSet;

/// Registered routes that are not JSON REST and so are not in the document: the WebSocket
/// upgrade and the SSE stream (both described by `asyncapi.yaml`), the test page, its JS client
/// and the development token minting.
const NOT_IN_THE_DOCUMENT: [&str; 11] = [
    "/ws/notifications/",
    "/sse/notifications/",
    "/",
    "/static/herald.js",
    "/static/test-page.js",
    "/static/test-page.css",
    "/dev/token",
    "/admin/",
    "/admin/console.js",
    "/admin/console.css",
    "/admin/favicon.svg",
];

const OPERATION_KEYS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

async fn document(app: &TestApp) -> Value {
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    doc
}

/// (METHOD, path, operation) for every operation of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = Vec::new();
    for (path, item) in paths {
        for (key, operation) in item.as_object().expect("path item") {
            if OPERATION_KEYS.contains(&key.as_str()) {
                operations.push((key.to_uppercase(), path.clone(), operation));
            }
        }
    }
    operations
}

#[actix_web::test]
async fn the_document_describes_exactly_the_registered_routes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    let documented: BTreeSet<(String, String)> =
        operations(&doc).into_iter().map(|(method, path, _)| (method, path)).collect();
    let registered: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|route| !NOT_IN_THE_DOCUMENT.contains(&route.path))
        .map(|route| (route.method.to_string(), route.path.to_owned()))
        .collect();
    assert_eq!(documented, registered, "documented (left) vs registered (right)");
    for path in NOT_IN_THE_DOCUMENT {
        assert!(ROUTES.iter().any(|route| route.path == path), "{path} is excluded but not registered");
    }
}

/// The node, not just `ROUTES`: every documented path answers with and without its trailing
/// slash, and a method it does not document is 405 naming exactly the documented methods.
#[actix_web::test]
async fn the_live_node_answers_each_documented_path_with_the_documented_methods() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let documented: BTreeSet<String> = item
            .as_object()
            .expect("path item")
            .keys()
            .filter(|key| OPERATION_KEYS.contains(&key.as_str()))
            .map(|key| key.to_uppercase())
            .collect();
        let concrete = path.replace("{id}", "1");
        let bare = concrete.trim_end_matches('/').to_owned();
        for form in [bare.clone(), format!("{bare}/")] {
            let (status, headers, body) = app.raw(Method::PATCH, &form, &[], Vec::new()).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "PATCH {form}: {body}");
            assert_eq!(body["error"]["code"], "method_not_allowed", "PATCH {form}");
            let allow: BTreeSet<String> = headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .expect("Allow header")
                .split(',')
                .map(|m| m.trim().to_owned())
                .collect();
            assert_eq!(allow, documented, "Allow of {form}");
        }
    }
}

#[actix_web::test]
async fn every_operation_documents_its_errors_as_the_envelope_and_auth_as_bearer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");
    let envelope = &doc["components"]["schemas"]["Error"];
    assert_eq!(envelope["required"], serde_json::json!(["error"]));
    let detail = &doc["components"]["schemas"]["ErrorDetail"];
    assert_eq!(detail["required"], serde_json::json!(["code", "message"]));
    assert!(detail["properties"]["field"].is_object());
    let responses = &doc["components"]["responses"];
    let error_ref = "#/components/schemas/Error";

    let mut statuses_seen = BTreeSet::new();
    for (method, path, operation) in operations(&doc) {
        let name = format!("{method} {path}");
        for (status, response) in operation["responses"].as_object().expect("responses") {
            let code: u16 = status.parse().unwrap_or_else(|_| panic!("{name}: status {status}"));
            if code < 400 || (path == "/readyz" && code == 503) {
                continue;
            }
            statuses_seen.insert(code);
            // Every error response is a shared component whose body is the envelope.
            let reference = response["$ref"].as_str().unwrap_or_else(|| panic!("{name} {status}: {response}"));
            let component = &responses[reference.trim_start_matches("#/components/responses/")];
            assert_eq!(component["content"]["application/json"]["schema"]["$ref"], error_ref, "{name} {status}");
        }
        assert!(operation["responses"]["405"].is_object(), "{name} documents no 405");
        let authenticated = path.starts_with("/auth/") || path.starts_with("/admin/");
        let security = &operation["security"];
        if authenticated {
            assert_eq!(security, &serde_json::json!([{"bearer": []}]), "{name}");
            for status in ["401", "429", "503"] {
                assert!(operation["responses"][status].is_object(), "{name} documents no {status}");
            }
        } else {
            assert!(security.is_null(), "{name} needs no token");
        }
        let has_body = operation["requestBody"].is_object();
        for status in ["400", "413", "415"] {
            if has_body {
                assert!(operation["responses"][status].is_object(), "{name} documents no {status}");
            }
        }
        if path.contains("{id}") {
            assert!(operation["responses"]["404"].is_object(), "{name} documents no 404");
        }
        let idempotent = matches!(path.as_str(), "/auth/notifications/create/" | "/auth/notifications/broadcast/");
        let has_key = operation["parameters"]
            .as_array()
            .is_some_and(|params| params.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"));
        assert_eq!(has_key, idempotent, "{name}: Idempotency-Key");
    }
    assert_eq!(statuses_seen, BTreeSet::from([400, 401, 403, 404, 405, 413, 415, 422, 429, 503]));
    // An idempotency key reused with another request: documented where keys are taken.
    for path in ["/auth/notifications/create/", "/auth/notifications/broadcast/"] {
        let reused = &doc["paths"][path]["post"]["responses"]["422"]["$ref"];
        assert_eq!(reused, "#/components/responses/IdempotencyKeyReused", "{path}");
    }
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"].as_array().expect("ErrorCode enum");
    assert!(codes.contains(&serde_json::json!("idempotency_key_reused")), "{codes:?}");
}

/// What the document says about one reply holds for the real one (schemathesis checks them all).
#[actix_web::test]
async fn documented_error_and_list_shapes_match_live_replies() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| -> BTreeSet<String> {
        schemas[name]["required"].as_array().expect(name).iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
    };
    let keys = |value: &Value| -> BTreeSet<String> { value.as_object().expect("object").keys().cloned().collect() };

    app.create_for_self(1, "hello").await;
    let (status, list) = app.get("/auth/notifications/?limit=1", &token(1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&list), required("NotificationList"));
    assert_eq!(keys(&list["notifications"][0]), required("Notification"));

    let (status, error) = app.get("/auth/notifications/?limit=0", &token(1)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(keys(&error), required("Error"));
    let codes = schemas["ErrorCode"]["enum"].as_array().expect("ErrorCode enum");
    assert!(codes.contains(&error["error"]["code"]), "{error}");
    assert_eq!(error["error"]["field"], "limit");
}

/// The committed copy of the document, for clients and code generators that do not run a node.
const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

/// The first place where `committed` and `served` differ, as a JSON pointer with both values
/// (`None` when equal). Objects are compared key by key in sorted order, arrays item by item.
fn first_difference(path: &str, committed: &Value, served: &Value) -> Option<(String, String, String)> {
    let shown = |value: Option<&Value>| value.map_or_else(|| "(absent)".to_owned(), Value::to_string);
    match (committed, served) {
        (Value::Object(left), Value::Object(right)) => {
            let keys: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
            keys.into_iter().find_map(|key| {
                let at = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (left.get(key), right.get(key)) {
                    (Some(l), Some(r)) => first_difference(&at, l, r),
                    (l, r) => Some((at, shown(l), shown(r))),
                }
            })
        }
        (Value::Array(left), Value::Array(right)) => {
            (0..left.len().max(right.len())).find_map(|i| match (left.get(i), right.get(i)) {
                (Some(l), Some(r)) => first_difference(&format!("{path}/{i}"), l, r),
                (l, r) => Some((format!("{path}/{i}"), shown(l), shown(r))),
            })
        }
        _ if committed == served => None,
        _ => Some((path.to_owned(), committed.to_string(), served.to_string())),
    }
}

/// `openapi.json` is what a node with the default configuration on PostgreSQL (the production
/// backend, the default notification types) serves at `/openapi.json`. With `HERALD_BLESS=1` the
/// test writes the served document to the file instead (pretty-printed, trailing newline).
#[actix_web::test]
async fn the_committed_openapi_json_is_what_a_default_postgres_node_serves() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let served = document(&app).await;
    if std::env::var("HERALD_BLESS").is_ok_and(|v| v == "1") {
        let text = serde_json::to_string_pretty(&served).expect("the document serializes");
        std::fs::write(COMMITTED, format!("{text}\n")).expect("write openapi.json");
        return;
    }
    let text = std::fs::read_to_string(COMMITTED).unwrap_or_else(|e| {
        panic!("{COMMITTED}: {e}; write it with HERALD_BLESS=1 cargo test --test api committed_openapi")
    });
    let committed: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{COMMITTED} is not JSON: {e}"));
    if let Some((at, was, now)) = first_difference("", &committed, &served) {
        panic!(
            "openapi.json is out of date: the node serves another document.\n  first difference at {at}\n  \
             committed: {was}\n  served:    {now}\nIf the change is intended, regenerate the file with\n  \
             HERALD_BLESS=1 cargo test --test api committed_openapi\nand commit it."
        );
    }
}

#[test]
fn the_first_difference_is_named_by_its_json_pointer() {
    let committed = serde_json::json!({"a": {"b": [1, 2], "c/d": true}, "e": 1});
    assert_eq!(first_difference("", &committed, &committed.clone()), None);
    let served = serde_json::json!({"a": {"b": [1, 3], "c/d": true}, "e": 1});
    assert_eq!(first_difference("", &committed, &served), Some(("/a/b/1".into(), "2".into(), "3".into())));
    let served = serde_json::json!({"a": {"b": [1, 2], "c/d": false}, "e": 1, "f": null});
    assert_eq!(first_difference("", &committed, &served), Some(("/a/c~1d".into(), "true".into(), "false".into())));
    let served = serde_json::json!({"a": {"b": [1, 2], "c/d": true}, "e": 1, "f": null});
    assert_eq!(first_difference("", &committed, &served), Some(("/f".into(), "(absent)".into(), "null".into())));
}
