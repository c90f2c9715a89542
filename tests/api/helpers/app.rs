//! A node in this process on port 0 and a JSON client for it.

use super::{init_logs, Backend, DbGuard, SECRET, WAIT};
use awc::http::{Method, StatusCode};
use futures_util::future::join_all;
use herald::broker::Broker;
use herald::config::Config;
use herald::startup::Node;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::ToSocketAddrs;

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

    /// `GET /metrics`: asserted 200 in the Prometheus text format; its text.
    pub async fn metrics_text(&self) -> String {
        let mut res = self.client.get(self.url("/metrics")).send().await.expect("scrape");
        assert_eq!(res.status(), StatusCode::OK);
        let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        String::from_utf8(res.body().await.expect("metrics body").to_vec()).expect("UTF-8")
    }

    /// Creates a notification for `user` (as that user) and returns it.
    pub async fn create_for_self(&self, user: i64, title: &str) -> Value {
        let (status, body) =
            self.post("/auth/notifications/create/", &super::token(user), json!({ "title": title })).await;
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

/// Sends a request to `url` (a node in this process or not); transport errors are returned, not
/// a panic. Returns status and parsed JSON body.
pub async fn request(
    client: &awc::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(StatusCode, Value), String> {
    let mut req = client.request(method, url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let sent = match body {
        Some(body) => req.send_json(&body).await,
        None => req.send().await,
    };
    let mut res = sent.map_err(|e| format!("request to {url} failed: {e}"))?;
    let status = res.status();
    let bytes = res.body().limit(1024 * 1024).await.map_err(|e| format!("body of {url}: {e}"))?;
    Ok((status, parse_body(&bytes)))
}

/// Creates a notification for `user` (as that user) on `node`; returns its id.
pub async fn create_id(node: &TestApp, user: i64, title: &str) -> i64 {
    super::id_of(&node.create_for_self(user, title).await)
}

/// `creators` concurrent tasks, creator `c` on node `c % nodes.len()`, each creating `each`
/// notifications for `user` one after the other. Returns every id created.
pub async fn create_concurrently(nodes: &[TestApp], user: i64, creators: usize, each: usize) -> Vec<i64> {
    let tasks = (0..creators).map(|creator| async move {
        let node = &nodes[creator % nodes.len()];
        let mut ids = Vec::with_capacity(each);
        for n in 0..each {
            ids.push(create_id(node, user, &format!("creator {creator} #{n}")).await);
        }
        ids
    });
    join_all(tasks).await.into_iter().flatten().collect()
}

/// `GET /auth/notifications/{query}` as `user`, asserted 200.
pub async fn list(app: &TestApp, user: i64, query: &str) -> Value {
    let (status, body) = app.get(&format!("/auth/notifications/{query}"), &super::token(user)).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

/// `user`'s unread count over REST, asserted 200.
pub async fn unread_count(app: &TestApp, user: i64) -> i64 {
    let (status, body) = app.get("/auth/notifications/unread-count/", &super::token(user)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["unread_count"].as_i64().expect("unread_count is an integer")
}

/// A node (with `extra` settings) on a fresh PostgreSQL database reached through a `Proxy` the
/// test can cut or stall.
pub async fn node_behind_db_proxy(extra: &[(&str, &str)]) -> (super::Proxy, TestApp) {
    let db = super::TestDb::new();
    let (proxy, via_proxy) = db_proxy(&db.url);
    let app = TestApp::spawn_on(DbGuard::Postgres(db), &via_proxy, extra).await;
    (proxy, app)
}

/// A `Proxy` to the PostgreSQL server of `database_url`, and the URL that reaches it through the proxy.
pub fn db_proxy(database_url: &str) -> (super::Proxy, String) {
    let mut url = url::Url::parse(database_url).expect("database URL");
    let host = url.host_str().expect("database host").to_owned();
    let address = (host.as_str(), url.port().unwrap_or(5432))
        .to_socket_addrs()
        .expect("resolve the database host")
        .next()
        .expect("an address for the database host");
    let proxy = super::Proxy::start(address);
    url.set_port(Some(proxy.port)).expect("port");
    (proxy, url.to_string())
}
