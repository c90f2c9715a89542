//! README "Integrating Herald", a browser app on another origin, for real in headless chromium:
//! an app page served by a small static server of this test (origin A) imports `HeraldClient`
//! from `/static/herald.js` of a node (origin B, reached through a TCP `Proxy` the test can cut)
//! that runs with `ALLOWED_ORIGINS` = A. The page lists over the client and over its own
//! cross-origin `fetch` (CORS), and gets a live push over the WebSocket. Loaded again with
//! `window.WebSocket` replaced by a stub that never opens (a proxy that blocks WebSockets), the
//! client falls back to the browser's real `EventSource` and gets every notification created
//! after, exactly once and in order, across a cut connection (the browser resumes with
//! `Last-Event-ID`) and a client-side reopen (`refreshToken`: `?last_event_id=`). The same page
//! served from an unlisted origin C gets nothing: the module import and its `fetch` fail (no CORS
//! headers), and a copy of the client it serves itself never opens (the node answers 403 to its
//! WebSocket and SSE handshakes, counted in `/metrics`). Screenshots go to target/test-artifacts/.

use crate::helpers::*;
use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The bound of every wait on the page: generous, for a busy machine (nothing is timed).
const PAGE_WAIT: Duration = Duration::from_secs(60);
/// Notifications created while the page is on the SSE transport.
const SSE_CREATES: usize = 20;

/// What the page shows when a wait fails: its whole record.
const APP_SUMMARY: &str = "return `page: ${location.href}\\napp: ${JSON.stringify(window.app ?? null)}`;";

/// The app page. `{{CONFIG}}` is a JSON object (herald, token, user, block); `{{HERALD_JS}}` the
/// JSON string of `<herald>/static/herald.js`. The classic script runs before the module script
/// (module scripts are deferred), so a blocked page's stub is in place before the client loads.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Acme app: notifications by Herald</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f4f6fa; }
  header { background: #24324f; color: #fff; padding: 14px 24px; }
  header h1 { font-size: 20px; margin: 0 0 4px; }
  header p { margin: 0; opacity: .85; font-size: 13px; }
  main { padding: 16px 24px; display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
  section { background: #fff; border: 1px solid #d9deea; border-radius: 8px; padding: 12px 16px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  .badge { display: inline-block; padding: 1px 10px; border-radius: 999px; background: #dfe3ee; font-weight: 600; }
  .badge.open, .badge.ok { background: #c8efd1; } .badge.bad { background: #ffd6d1; }
  .badge.reconnecting, .badge.connecting { background: #ffe7c2; }
  ol { margin: 0; padding-left: 22px; } li { margin: 1px 0; }
  .muted { color: #66708a; } code { font-size: 13px; }
  .wide { grid-column: 1 / 3; }
</style>
</head>
<body>
<header>
  <h1>Acme app <span class="muted" style="color:#c9d3ea">(notifications by Herald)</span></h1>
  <p>this page: <code id="page-origin"></code> &middot; Herald: <code id="herald-origin"></code> &middot;
     WebSocket: <span id="ws-mode"></span></p>
</header>
<main>
  <section>
    <h2>Connection</h2>
    <p>client loaded from: <span id="imported" class="badge">…</span></p>
    <p>transport: <span id="transport" class="badge">…</span> &nbsp; state: <span id="state" class="badge">…</span></p>
    <p class="muted">attempts: <span id="attempts">0</span> &middot; transports: <span id="transports"></span></p>
  </section>
  <section>
    <h2>Listed before going live</h2>
    <p>client <code>getNotifications()</code>: <span id="listed" class="badge">…</span></p>
    <p>this page's <code>fetch()</code> of <code>/auth/notifications/</code>: <span id="rest" class="badge">…</span></p>
  </section>
  <section class="wide">
    <h2>Received live (<span id="count">0</span>)</h2>
    <ol id="received"></ol>
    <p class="muted" id="empty">Nothing received.</p>
  </section>
  <section class="wide">
    <h2>Errors</h2>
    <ol id="errors"></ol>
  </section>
</main>
<script>
  const PAGE = {{CONFIG}};
  window.app = {
    importedFrom: null, importError: null, transports: [], states: [], attempts: [], errors: [],
    received: [], reads: [], listed: null, rest: null, stubbed: 0,
  };
  const $ = (id) => document.getElementById(id);
  const badge = (id, text, kind) => { const e = $(id); e.textContent = text; e.className = `badge ${kind || ""}`; };
  const message = (e) => (e && (e.message || e.code)) ? `${e.name || e.type || "Error"}: ${e.message || e.code}` : String(e);
  function render() {
    const app = window.app;
    $("page-origin").textContent = location.origin;
    $("herald-origin").textContent = PAGE.herald;
    $("ws-mode").textContent = PAGE.block ? "blocked (stub that never opens)" : "the browser's";
    badge("imported", app.importedFrom === "herald" ? "Herald /static/herald.js"
      : app.importedFrom === "app" ? "this app's own copy (Herald's import refused)" : "…",
      app.importedFrom === "herald" ? "ok" : app.importedFrom ? "bad" : "");
    const herald = window.herald;
    badge("transport", herald?.transport ?? "none", herald?.state === "open" ? "ok" : "");
    badge("state", herald?.state ?? "not started", herald?.state);
    $("attempts").textContent = app.attempts.length;
    $("transports").textContent = app.transports.join(" → ");
    const listed = app.listed;
    const never = herald && herald.state !== "open" ? "not connected" : "…";
    badge("listed", !listed ? never : listed.error ? listed.error : `ids ${listed.ids.join(", ") || "none"} (over ${listed.transport})`,
      !listed ? "" : listed.error ? "bad" : "ok");
    const rest = app.rest;
    badge("rest", !rest ? "…" : rest.error ? rest.error : `${rest.status}: ids ${rest.ids.join(", ") || "none"}`,
      !rest ? "" : rest.error ? "bad" : "ok");
    $("count").textContent = app.received.length;
    $("received").replaceChildren(...app.received.map((n) => {
      const li = document.createElement("li");
      li.textContent = `#${n.id} ${n.title} (${n.transport})${app.reads.includes(n.id) ? " ✓ read" : ""}`;
      return li;
    }));
    $("empty").hidden = app.received.length > 0;
    $("errors").replaceChildren(...[...(app.importError ? [app.importError] : []), ...app.errors].map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
  }

  // A proxy that blocks WebSockets, as a page sees it: every socket fails (error, then close
  // 1006, asynchronously, as browsers report a refused upgrade) and none ever opens.
  if (PAGE.block) {
    window.WebSocket = class BlockedWebSocket extends EventTarget {
      static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
      constructor(url) {
        super();
        this.url = url;
        this.readyState = 0;
        this.onopen = this.onmessage = this.onerror = this.onclose = null;
        window.app.stubbed += 1;
        setTimeout(() => {
          this.readyState = 3;
          const error = new Event("error");
          this.dispatchEvent(error);
          this.onerror?.(error);
          const close = new CloseEvent("close", { code: 1006, reason: "", wasClean: false });
          this.dispatchEvent(close);
          this.onclose?.(close);
        }, 20);
      }
      send() { throw new DOMException("WebSocket is not open", "InvalidStateError"); }
      close() { this.readyState = 3; }
    };
  }

  // The page's own REST call, cross-origin: a preflight (Authorization), then the list.
  fetch(`${PAGE.herald}/auth/notifications/?limit=50`, { headers: { Authorization: `Bearer ${PAGE.token}` } })
    .then(async (response) => {
      const body = await response.json();
      window.app.rest = { status: response.status, ids: (body.notifications || []).map((n) => n.id) };
    })
    .catch((e) => { window.app.rest = { error: message(e) }; })
    .finally(render);

  async function listOnce() {
    window.app.listed = { pending: true, ids: [] };
    try {
      const page = await window.herald.getNotifications({ limit: 50 });
      window.app.listed = { ids: page.notifications.map((n) => n.id), transport: window.herald.transport };
    } catch (e) {
      window.app.listed = { error: message(e) };
    }
    render();
  }

  // Starts the client: every event it emits is recorded on window.app.
  window.startApp = (HeraldClient, from) => {
    const app = window.app;
    app.importedFrom = from;
    const herald = new HeraldClient({ baseUrl: PAGE.herald, token: PAGE.token });
    window.herald = herald;
    herald.on("transport", (transport) => { app.transports.push(transport); render(); });
    herald.on("state", (state) => {
      app.states.push(state);
      if (state === "open" && !app.listed) listOnce();
      render();
    });
    herald.on("connecting", (url) => { app.attempts.push(url); render(); });
    herald.on("notification", (n) => {
      app.received.push({ id: n.id, title: n.title, transport: herald.transport });
      render();
    });
    herald.on("read", (id) => { app.reads.push(id); render(); });
    herald.on("error", (e) => { app.errors.push(message(e)); render(); });
    herald.connect();
    render();
  };

  // The import from Herald failed (an origin Herald does not list gets no CORS headers): the
  // app's own copy of the client (as if bundled from npm) tries to connect anyway.
  window.importFailed = () => {
    window.app.importError = `import of ${PAGE.herald}/static/herald.js failed`;
    import("/herald.js").then((module) => window.startApp(module.HeraldClient, "app"))
      .catch((e) => { window.app.errors.push(`own copy: ${message(e)}`); render(); });
  };
  render();
</script>
<script type="module" onerror="importFailed()">
  import { HeraldClient } from {{HERALD_JS}};
  window.startApp(HeraldClient, "herald");
</script>
</body>
</html>
"#;

/// The app page for `?herald=<base URL>&token=<jwt>&user=<id>[&block=1]`.
async fn app_page(query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let (Some(herald), Some(token)) = (query.get("herald"), query.get("token")) else {
        return HttpResponse::BadRequest().body("herald and token are required");
    };
    let config = json!({
        "herald": herald,
        "token": token,
        "user": query.get("user"),
        "block": query.get("block").is_some_and(|b| b == "1"),
    });
    // JSON in a script: no `</script>` can end it early.
    let js = |value: &Value| value.to_string().replace('<', "\\u003c");
    let html = PAGE
        .replace("{{CONFIG}}", &js(&config))
        .replace("{{HERALD_JS}}", &js(&json!(format!("{herald}/static/herald.js"))));
    HttpResponse::Ok().content_type("text/html; charset=utf-8").insert_header(("Cache-Control", "no-store")).body(html)
}

/// The app's own copy of the client (what a bundler would ship), same-origin to the page.
async fn app_copy_of_the_client() -> HttpResponse {
    let source = std::fs::read_to_string(Path::new(ROOT).join("clients/js/herald.js")).expect("clients/js/herald.js");
    HttpResponse::Ok().content_type("text/javascript; charset=utf-8").body(source)
}

/// The app's static server: one server on two loopback ports, two origins; stopped on Drop.
struct AppServer {
    /// Listed in the node's `ALLOWED_ORIGINS`.
    allowed: u16,
    /// Not listed.
    unlisted: u16,
    handle: ServerHandle,
}

impl AppServer {
    fn start() -> AppServer {
        let server = HttpServer::new(|| {
            App::new().route("/", web::get().to(app_page)).route("/herald.js", web::get().to(app_copy_of_the_client))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", 0))
        .expect("bind the app's first port")
        .bind(("127.0.0.1", 0))
        .expect("bind the app's second port");
        let ports: Vec<u16> = server.addrs().iter().map(SocketAddr::port).collect();
        let &[allowed, unlisted] = &ports[..] else { panic!("two app ports: {ports:?}") };
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        AppServer { allowed, unlisted, handle }
    }

    /// The page on `port` for `user`, talking to `herald`.
    fn page(&self, port: u16, herald: &str, user: i64, block: bool) -> String {
        let block = if block { "&block=1" } else { "" };
        format!("http://127.0.0.1:{port}/?herald={herald}&user={user}&token={}{block}", token(user))
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Polls until `script` (a function body) returns true, within `PAGE_WAIT`; fails with the page's
/// record.
async fn wait_page(browser: &Browser, what: &str, script: &str, args: Value) {
    let holds = async || if browser.script(script, args.clone()).await == json!(true) { Ok(()) } else { Err(()) };
    if poll_every(Duration::from_millis(50), PAGE_WAIT, holds).await.is_err() {
        panic!("page: {what} not within {PAGE_WAIT:?}\n{}", browser.summary().await);
    }
}

/// The page's record (`window.app`).
async fn app_record(browser: &Browser) -> Value {
    browser.script("return window.app ?? null;", json!([])).await
}

/// The ids the page received, in order.
async fn received_ids(browser: &Browser) -> Vec<i64> {
    let ids = browser.script("return window.app.received.map((n) => n.id);", json!([])).await;
    ids.as_array().expect("an array").iter().map(|id| id.as_i64().expect("an id")).collect()
}

/// Polls until the page received every one of `ids`.
async fn wait_received(browser: &Browser, ids: &[i64]) {
    let all =
        "const got = new Set(window.app.received.map((n) => n.id)); return arguments[0].every((id) => got.has(id));";
    wait_page(browser, &format!("notifications {ids:?} received"), all, json!([ids])).await;
}

/// Polls until the client's last state is `state`.
async fn wait_state(browser: &Browser, state: &str) {
    let last = "return window.app.states.at(-1) === arguments[0];";
    wait_page(browser, &format!("state {state}"), last, json!([state])).await;
}

/// `herald_http_requests_total` of `route` (as the node labels it) with `status`.
fn requests(metrics: &str, route: &str, status: u16) -> u64 {
    let (route, status) = (format!("route=\"{route}\""), format!("status=\"{status}\""));
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("herald_http_requests_total{") && line.contains(&route) && line.contains(&status)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// What the node counted of the page's handshakes and imports so far.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Counted {
    ws_opened: u64,
    ws_forbidden: u64,
    sse_opened: u64,
    sse_forbidden: u64,
    herald_js: u64,
}

async fn counted(node: &TestApp) -> Counted {
    let text = node.metrics_text().await;
    Counted {
        ws_opened: requests(&text, "/ws/notifications", 101),
        ws_forbidden: requests(&text, "/ws/notifications", 403),
        sse_opened: requests(&text, "/sse/notifications", 200),
        sse_forbidden: requests(&text, "/sse/notifications", 403),
        herald_js: requests(&text, "/static/herald.js", 200),
    }
}

/// Saves the viewport as target/test-artifacts/`name` (never in docs/: the README shows none).
async fn save_artifact(browser: &Browser, name: &str) -> PathBuf {
    browser.script("window.scrollTo(0, 0); return true;", json!([])).await;
    let png = browser.screenshot().await;
    let dir = Path::new(ROOT).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("target/test-artifacts/");
    let path = dir.join(name);
    std::fs::write(&path, png).expect("write the screenshot");
    path
}

/// The id of a notification created over REST, directly on the node, for `user`.
async fn create(node: &TestApp, user: i64, title: &str) -> i64 {
    create_id(node, user, title).await
}

#[actix_web::test]
async fn an_app_on_another_origin_uses_herald_over_websocket_and_over_sse_and_an_unlisted_origin_cannot() {
    let started = Instant::now();
    let apps = AppServer::start();
    let allowed_origin = format!("http://127.0.0.1:{}", apps.allowed);
    let node = TestApp::spawn_with(Backend::Postgres, &[("ALLOWED_ORIGINS", allowed_origin.as_str())]).await;
    // The browser reaches the node through a proxy the test can cut (its origin is B).
    let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], node.port)));
    let herald = format!("http://127.0.0.1:{}", proxy.port);
    let browser = Browser::start().await.summarized_by(APP_SUMMARY);
    eprintln!("browser_integration: app on {allowed_origin} (unlisted: {}), Herald on {herald}", apps.unlisted);

    over_websocket(&browser, &apps, &node, &herald).await;
    let sse_shot = over_sse_with_websockets_blocked(&browser, &apps, &node, &proxy, &herald).await;
    let refused_shot = refused_on_an_unlisted_origin(&browser, &apps, &node, &herald).await;
    eprintln!("browser_integration: screenshots {} and {}", sse_shot.display(), refused_shot.display());
    drop(browser);
    node.stop().await;
    eprintln!("browser_integration: done in {:?}", started.elapsed());
}

/// 1-3: the page on the listed origin imports the client from Herald, lists what was created
/// before (over the socket, and with its own cross-origin `fetch`), and gets a live push.
async fn over_websocket(browser: &Browser, apps: &AppServer, node: &TestApp, herald: &str) {
    let before = counted(node).await;
    let mut earlier = Vec::new();
    for n in 1..=3 {
        earlier.push(create(node, 1, &format!("Before the page #{n}")).await);
    }
    let newest_first: Vec<i64> = earlier.iter().rev().copied().collect();

    browser.goto(&apps.page(apps.allowed, herald, 1, false)).await;
    wait_state(browser, "open").await;
    wait_page(browser, "both lists", "return !!window.app.rest && !!window.app.listed?.transport;", json!([])).await;
    let app = app_record(browser).await;
    assert_eq!(app["importedFrom"], json!("herald"), "the module came from Herald: {app}");
    assert_eq!(app["importError"], Value::Null, "{app}");
    assert_eq!(app["transports"], json!(["websocket"]), "{app}");
    assert_eq!(app["states"], json!(["connecting", "open"]), "{app}");
    assert_eq!(app["rest"], json!({"status": 200, "ids": newest_first}), "the page's own fetch (CORS): {app}");
    assert_eq!(app["listed"], json!({"ids": newest_first, "transport": "websocket"}), "getNotifications: {app}");

    // A live push.
    let live = create(node, 1, "Pushed over the WebSocket").await;
    wait_received(browser, &[live]).await;
    let app = app_record(browser).await;
    assert_eq!(
        app["received"],
        json!([{"id": live, "title": "Pushed over the WebSocket", "transport": "websocket"}]),
        "{app}"
    );
    assert_eq!(app["errors"], json!([]), "{app}");
    let after = counted(node).await;
    assert_eq!(after.ws_opened, before.ws_opened + 1, "one WebSocket opened: {before:?} → {after:?}");
    assert!(after.herald_js > before.herald_js, "the module was served: {before:?} → {after:?}");
    save_artifact(browser, "integration-app-websocket.png").await;
}

/// 4: WebSockets blocked in the page: the client falls back to the browser's `EventSource` and
/// gets every notification created after, exactly once, in order, across a cut connection and a
/// reopen of its own. Returns the screenshot's path.
async fn over_sse_with_websockets_blocked(
    browser: &Browser,
    apps: &AppServer,
    node: &TestApp,
    proxy: &Proxy,
    herald: &str,
) -> PathBuf {
    let user = 2;
    let earlier = [create(node, user, "Before the page #1").await, create(node, user, "Before the page #2").await];
    let before = counted(node).await;

    browser.goto(&apps.page(apps.allowed, herald, user, true)).await;
    wait_state(browser, "open").await;
    wait_page(browser, "the list", "return !!window.app.listed?.transport;", json!([])).await;
    let app = app_record(browser).await;
    assert_eq!(app["importedFrom"], json!("herald"), "{app}");
    assert_eq!(app["transports"], json!(["websocket", "sse"]), "fell back to SSE: {app}");
    assert_eq!(app["stubbed"], json!(2), "two WebSockets failed first (fallbackAfter): {app}");
    assert_eq!(app["states"], json!(["connecting", "reconnecting", "open"]), "{app}");
    assert_eq!(app["listed"], json!({"ids": [earlier[1], earlier[0]], "transport": "sse"}), "over REST: {app}");
    assert_eq!(app["rest"], json!({"status": 200, "ids": [earlier[1], earlier[0]]}), "{app}");
    let real = "const h = window.herald; return h.ws === null && h.es instanceof EventSource \
                && /\\[native code\\]/.test(Function.prototype.toString.call(EventSource)) \
                && h.es.url.startsWith(arguments[0] + '/sse/notifications/') && h.es.readyState === EventSource.OPEN;";
    assert_eq!(browser.script(real, json!([herald])).await, json!(true), "the browser's own EventSource, open");

    let mut created = Vec::new();
    // Live.
    for n in 1..=7 {
        created.push(create(node, user, &format!("Live #{n}")).await);
    }
    wait_received(browser, &created).await;

    // The connection is cut under the stream (the node stays up): the browser's EventSource
    // retries by itself; meanwhile more are created, then it resumes with Last-Event-ID.
    proxy.cut();
    wait_state(browser, "reconnecting").await;
    for n in 1..=6 {
        created.push(create(node, user, &format!("While cut #{n}")).await);
    }
    proxy.restore();
    for n in 1..=4 {
        created.push(create(node, user, &format!("As it resumes #{n}")).await);
    }
    wait_received(browser, &created).await;
    wait_state(browser, "open").await;

    // The client opens a new stream of its own (a new token: `?last_event_id=`), while more are
    // created.
    let fresh = sign(&json!({"token_type": "access", "user_id": user, "exp": now_secs() + 3600, "jti": "fresh"}));
    let refresh = "window.herald.refreshToken(arguments[0]).then((r) => { window.app.refreshed = r.type; }, \
                   (e) => { window.app.errors.push(`refresh: ${e.message}`); }); return true;";
    browser.script(refresh, json!([fresh])).await;
    for n in 1..=3 {
        created.push(create(node, user, &format!("Across a new stream #{n}")).await);
    }
    assert_eq!(created.len(), SSE_CREATES);
    wait_received(browser, &created).await;

    // A barrier: the stream is ordered, so once the read of the first one arrived, anything
    // pushed before it did too. Then: every one exactly once, in creation order.
    let (status, body) = node.post_empty(&format!("/auth/notifications/{}/read/", created[0]), &token(user)).await;
    assert_eq!(status, awc::http::StatusCode::OK, "{body}");
    wait_page(browser, "the read pushed", "return window.app.reads.includes(arguments[0]);", json!([created[0]])).await;
    assert_eq!(received_ids(browser).await, created, "every notification exactly once, in order");
    let app = app_record(browser).await;
    let transports: Vec<&Value> =
        app["received"].as_array().expect("received").iter().map(|n| &n["transport"]).collect();
    assert!(transports.iter().all(|t| *t == "sse"), "{app}");
    assert_eq!(app["refreshed"], json!("token_refreshed"), "{app}");
    assert_eq!(app["errors"], json!([]), "{app}");
    // The client announced two WebSockets (the stubs), its first stream and the new one (resumed
    // by event id); the stream cut under it was resumed by the browser's EventSource itself.
    let attempts: Vec<&str> = app["attempts"].as_array().expect("attempts").iter().filter_map(Value::as_str).collect();
    let ws = format!("{}/ws/notifications/?token=", herald.replacen("http", "ws", 1));
    let sse = format!("{herald}/sse/notifications/?token=");
    let kinds: Vec<&str> = attempts
        .iter()
        .map(|url| match url {
            _ if url.starts_with(&ws) => "websocket",
            _ if url.starts_with(&sse) && url.contains("last_event_id=") => "sse resumed",
            _ if url.starts_with(&sse) => "sse",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["websocket", "websocket", "sse", "sse resumed"], "{attempts:?}");

    let after = counted(node).await;
    assert_eq!(after.ws_opened, before.ws_opened, "no WebSocket reached the node: {before:?} → {after:?}");
    // The first stream, the browser's reconnect after the cut, the client's new stream.
    assert!(after.sse_opened >= before.sse_opened + 3, "three streams: {before:?} → {after:?}");
    save_artifact(browser, "integration-app-sse.png").await
}

/// 5: the same page from an unlisted origin: the import from Herald and its own `fetch` fail
/// (no CORS headers), and its own copy of the client never opens: the node refuses its
/// WebSocket and SSE handshakes with 403. Returns the screenshot's path.
async fn refused_on_an_unlisted_origin(browser: &Browser, apps: &AppServer, node: &TestApp, herald: &str) -> PathBuf {
    let user = 3;
    let earlier = create(node, user, "Not for another origin").await;
    let before = counted(node).await;

    browser.goto(&apps.page(apps.unlisted, herald, user, false)).await;
    wait_page(browser, "its fetch settled", "return !!window.app.rest;", json!([])).await;
    // Two WebSockets refused, then the SSE stream refused, then a fourth attempt: the third
    // one's end was seen.
    let tried = "return window.app.importedFrom === 'app' && window.app.transports.includes('sse') \
                 && window.app.attempts.length >= 4;";
    wait_page(browser, "the client tried both transports", tried, json!([])).await;
    let app = app_record(browser).await;
    let failed_fetch = app["rest"]["error"].as_str().is_some_and(|e| e.starts_with("TypeError"));
    assert!(failed_fetch, "the page's fetch fails in the browser (CORS): {app}");
    assert!(app["importError"].is_string(), "the import from Herald failed (CORS): {app}");
    assert_eq!(app["transports"], json!(["websocket", "sse"]), "{app}");
    assert!(!app["states"].as_array().expect("states").contains(&json!("open")), "never open: {app}");
    assert_eq!(app["listed"], Value::Null, "{app}");
    assert_eq!(app["received"], json!([]), "{app}");
    let state = browser.script("return window.herald.state;", json!([])).await;
    assert_eq!(state, json!("reconnecting"), "{app}");

    let after = counted(node).await;
    assert!(after.herald_js > before.herald_js, "the node answered the import, without CORS headers: {after:?}");
    assert!(after.ws_forbidden >= before.ws_forbidden + 2, "WebSocket handshakes got 403: {before:?} → {after:?}");
    assert!(after.sse_forbidden > before.sse_forbidden, "the SSE handshake got 403: {before:?} → {after:?}");
    assert_eq!((after.ws_opened, after.sse_opened), (before.ws_opened, before.sse_opened), "{after:?}");
    // The user's notification is there, for a page on a listed origin only.
    assert_eq!(list(node, user, "").await["notifications"][0]["id"], json!(earlier));
    save_artifact(browser, "integration-app-refused.png").await
}
