//! The test world: a fresh PostgreSQL database per test (cloned from a template migrated once
//! per test binary), or a SQLite file in a temp dir; nodes on port 0; a JSON client; tokens;
//! and a TCP proxy that can cut a connection. Everything is cleaned up on Drop.

#![allow(dead_code)]

use awc::http::{Method, StatusCode};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use herald::broker::Broker;
use herald::config::Config;
use herald::startup::Node;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const SECRET: &str = "herald-test-secret-0123456789abcdef";
/// Every wait in a test is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = env_logger::builder().is_test(true).try_init();
    }
}

/// The PostgreSQL server the tests may create databases on.
pub fn admin_url() -> String {
    std::env::var("HERALD_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `admin_url` with another database name.
pub fn url_for_database(name: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).expect("HERALD_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

fn admin() -> PgConnection {
    PgConnection::establish(&admin_url()).expect("PostgreSQL for tests: set HERALD_TEST_DATABASE_URL or run .ci/run")
}

static TEMPLATE: OnceLock<String> = OnceLock::new();
static CREATE_LOCK: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Name of the migrated template database of this test process.
fn template() -> &'static str {
    TEMPLATE.get_or_init(|| {
        let mut conn = admin();
        drop_stale_databases(&mut conn);
        let name = format!("herald_tpl_{}", std::process::id());
        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drop old template");
        conn.batch_execute(&format!("CREATE DATABASE {name}")).expect("create template database");
        herald::db::migrate(&herald::config::DatabaseUrl::Postgres(url_for_database(&name))).expect("migrate template");
        name
    })
}

/// Drops test databases left behind by test processes that no longer run.
fn drop_stale_databases(conn: &mut PgConnection) {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let names: Vec<Name> = diesel::sql_query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'herald\\_tpl\\_%' OR datname LIKE 'herald\\_test\\_%'",
    )
    .load(conn)
    .unwrap_or_default();
    for Name { datname } in names {
        let pid = datname.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)"));
            }
        }
    }
}

/// A fresh, migrated PostgreSQL database, dropped on Drop.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        let template = template();
        let name = format!("herald_test_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        {
            let _serialized = CREATE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            admin()
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
                .expect("create test database");
        }
        let url = url_for_database(&name);
        TestDb { name, url }
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&admin_url()) {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Keeps a test's database alive as long as its node.
pub enum DbGuard {
    Postgres(TestDb),
    Sqlite(tempfile::TempDir),
    None,
}

impl DbGuard {
    pub fn new(backend: Backend) -> (DbGuard, String) {
        match backend {
            Backend::Postgres => {
                let db = TestDb::new();
                let url = db.url.clone();
                (DbGuard::Postgres(db), url)
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("herald.db").display());
                (DbGuard::Sqlite(dir), url)
            }
        }
    }
}

/// The variables every test node gets; `extra` overrides or adds.
pub fn test_config(database_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("HERALD_BIND".into(), "127.0.0.1:0".into()),
        ("DATABASE_URL".into(), database_url.into()),
        ("JWT_SECRET".into(), SECRET.into()),
        ("HERALD_WORKERS".into(), "1".into()),
        ("HERALD_DB_POOL_SIZE".into(), "8".into()),
        // Tests burst far past an end user's limits; tests/api/limits.rs sets them low.
        ("HERALD_RATE_LIMIT_PER_SECOND".into(), "100000".into()),
        ("HERALD_RATE_LIMIT_BURST".into(), "100000".into()),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("valid test config")
}

/// A running node and a client for it.
pub struct TestApp {
    pub base_url: String,
    pub port: u16,
    /// The `HERALD_OPS_BIND` listener's port, when the test set one.
    pub ops_port: Option<u16>,
    pub broker: Broker,
    pub client: awc::Client,
    handle: herald::startup::NodeHandle,
    _db: DbGuard,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, &[]).await
    }

    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
        let (guard, url) = DbGuard::new(backend);
        Self::spawn_on(guard, &url, extra).await
    }

    /// A node on a database the caller made (several nodes may share one).
    pub async fn spawn_on(guard: DbGuard, database_url: &str, extra: &[(&str, &str)]) -> TestApp {
        init_logs();
        let node = Node::build(test_config(database_url, extra)).expect("node builds");
        let port = node.port();
        let ops_port = node.ops_port();
        let broker = node.broker().clone();
        let handle = node.handle();
        actix_web::rt::spawn(node.run());
        TestApp {
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            ops_port,
            broker,
            client: awc::Client::builder().timeout(WAIT).finish(),
            handle,
            _db: guard,
        }
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends a request; `body` is sent as JSON when given. Returns status and parsed JSON body
    /// (`Value::Null` for an empty body; panics on a non-JSON body, which Herald never sends).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let mut res = match body {
            Some(body) => req.send_json(&body).await,
            None => req.send().await,
        }
        .expect("request reaches the node");
        let status = res.status();
        let bytes = res.body().limit(16 * 1024 * 1024).await.expect("response body");
        (status, parse_body(&bytes))
    }

    /// Sends raw bytes with the given headers; returns status, headers and JSON body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, awc::http::header::HeaderMap, Value) {
        let mut req = self.client.request(method, self.url(path));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        let mut res = req.send_body(body).await.expect("request reaches the node");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.body().limit(16 * 1024 * 1024).await.expect("response body");
        (status, headers, parse_body(&bytes))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn post_empty(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), None).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Creates a notification for `user` (as that user) and returns it.
    pub async fn create_for_self(&self, user: i64, title: &str) -> Value {
        let (status, body) = self.post("/auth/notifications/create/", &token(user), json!({ "title": title })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["notification"].clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting and let workers wind down; the database guard drops after.
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

pub fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// Signs `claims` with HS256 and the test secret.
pub fn sign(claims: &Value) -> String {
    sign_with(claims, jsonwebtoken::Algorithm::HS256, SECRET)
}

pub fn sign_with(claims: &Value, algorithm: jsonwebtoken::Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(algorithm),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign token")
}

/// A simplejwt-shaped access token for a plain user, valid for an hour.
pub fn token(user: i64) -> String {
    sign(&json!({ "token_type": "access", "user_id": user, "exp": now_secs() + 3600, "jti": "t" }))
}

/// A staff token (may create for others and broadcast).
pub fn staff_token(user: i64) -> String {
    sign(&json!({ "token_type": "access", "user_id": user, "exp": now_secs() + 3600, "is_staff": true }))
}

/// Runs an async test body once per backend, each on a fresh database.
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* $name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: $crate::helpers::TestApp) $body

            $(#[$meta])*
            #[actix_web::test]
            async fn postgres() {
                run($crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await).await;
            }

            $(#[$meta])*
            #[actix_web::test]
            async fn sqlite() {
                run($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await;
            }
        }
    };
}
