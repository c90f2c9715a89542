//! The test page at `/` and the JS client `/static/herald.js` in headless chromium (SPEC §6), under
//! the node's Content-Security-Policy, driven over WebDriver: live notifications and the unread
//! badge, mark-read, and a resume with `since` after the node under the page is replaced. The final
//! page is saved as target/test-artifacts/test-page.png (with HERALD_UPDATE_SCREENSHOT=1 also as
//! docs/test-page.png).

use crate::helpers::{poll_every, token, wait_for as wait_for_value, Backend, DbGuard, TestApp, WAIT};
use awc::http::{Method, StatusCode};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The key of an element reference in WebDriver answers (W3C WebDriver §12.1).
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// A first chromium start (new profile) on a busy 2-core machine can take a while.
const BROWSER_START: Duration = Duration::from_secs(60);

/// A chromedriver child (killed by its PID on Drop) with one headless chromium session
/// (deleted on Drop, which ends the browser) and a private profile directory.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    client: awc::Client,
    dir: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let chromedriver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
            .expect("chromedriver is installed (.ci/run installs it: apt-get install chromium chromium-driver)");
        let chromium = find(&["/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"])
            .expect("chromium is installed (.ci/run installs it: apt-get install chromium chromium-driver)");
        let dir = tempfile::tempdir().expect("temp dir");
        let log = File::create(dir.path().join("chromedriver.log")).expect("chromedriver log");
        // Port 0: chromedriver binds a port of its own and prints it (`wait_ready` reads it).
        let driver = Command::new(chromedriver)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start chromedriver");
        let client = awc::Client::builder().timeout(BROWSER_START).finish();
        let mut browser = Browser { driver, port: 0, session: String::new(), client, dir };
        browser.wait_ready().await;

        let profile = browser.dir.path().join("profile");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1200",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "timeouts": {"implicit": 0, "pageLoad": 30_000, "script": 10_000},
        }}});
        let (status, body) = browser.send(Method::POST, "/session", Some(capabilities)).await;
        assert!(status.is_success(), "chromium did not start: {status} {body}\n{}", browser.logs());
        browser.session = body["value"]["sessionId"].as_str().expect("a session id").to_owned();
        browser
    }

    /// Reads the port chromedriver bound from its log, then polls its `/status` until it is
    /// ready (bounded).
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        let started = "ChromeDriver was started successfully on port ";
        let port = wait_for_value("chromedriver's port", WAIT, async || {
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited ({status}):\n{}", self.logs());
            }
            let log = std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
            let port = log.lines().find_map(|l| l.split_once(started)?.1.trim_end_matches('.').trim().parse().ok());
            port.ok_or_else(|| self.logs())
        })
        .await;
        self.port = port;
        let ready = async || {
            let (status, body) = self.send(Method::GET, "/status", None).await;
            if status.is_success() && body["value"]["ready"] == json!(true) {
                Ok(())
            } else {
                Err(format!("{status} {body}"))
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if let Err(last) = poll_every(Duration::from_millis(50), left, ready).await {
            panic!("chromedriver not ready within {WAIT:?} ({last}):\n{}", self.logs());
        }
    }

    /// One WebDriver request; the status and the JSON answer.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let req = self.client.request(method, format!("http://127.0.0.1:{}{path}", self.port));
        let mut res = match body {
            Some(body) => req.send_json(&body).await,
            None => req.send().await,
        }
        .unwrap_or_else(|e| panic!("WebDriver {path}: {e}\n{}", self.logs()));
        let bytes = res.body().limit(64 * 1024 * 1024).await.expect("WebDriver answer");
        (res.status(), serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A command of this session; its `value`. Any WebDriver error fails the test.
    async fn command(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let (status, answer) = self.send(method, &path, body).await;
        assert!(status.is_success(), "WebDriver {path}: {status} {answer}");
        answer["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.command(Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    async fn find(&self, css: &str) -> String {
        let found = self.command(Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned()
    }

    /// A real click (chromedriver scrolls the element into view and clicks its centre).
    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.command(Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    /// Types `text` into the element, as keystrokes.
    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.command(Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text }))).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its return value.
    async fn script(&self, script: &str, args: Value) -> Value {
        self.command(Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// The text of the first element matching `css` (null when there is none).
    async fn text(&self, css: &str) -> Value {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;";
        self.script(script, json!([css])).await
    }

    /// Polls until `script` returns true; fails after WAIT with what the page shows.
    async fn wait_for(&self, what: &str, script: &str, args: Value) {
        let shown = async || if self.script(script, args.clone()).await == json!(true) { Ok(()) } else { Err(()) };
        if poll_every(Duration::from_millis(50), WAIT, shown).await.is_err() {
            panic!("page: {what} not within {WAIT:?}\n{}", self.page_summary().await);
        }
    }

    /// Polls until the element's text is `expected`.
    async fn wait_text(&self, css: &str, expected: &str) {
        let script =
            "const e = document.querySelector(arguments[0]); return !!e && e.textContent.trim() === arguments[1];";
        self.wait_for(&format!("{css} reads {expected:?}"), script, json!([css, expected])).await;
    }

    /// Polls until the notification list has an item for `id`.
    async fn wait_listed(&self, id: i64) {
        let script = "return !!document.querySelector(`#notifications li[data-id=\"${arguments[0]}\"]`);";
        self.wait_for(&format!("notification {id} listed"), script, json!([id])).await;
    }

    /// State, badge, list and the newest log lines, for failure messages.
    async fn page_summary(&self) -> String {
        let script = "const t = (s) => document.querySelector(s)?.innerText; \
                      return `state: ${t('#state')}, unread: ${t('#unread-badge')}\\n\
                      notifications:\\n${t('#notifications')}\\nlog (newest first):\\n\
                      ${[...document.querySelectorAll('#log li')].slice(0, 25).map(li => li.textContent).join('\\n')}`;";
        match self.script(script, json!([])).await {
            Value::String(summary) => summary,
            other => other.to_string(),
        }
    }

    /// A PNG of the viewport.
    async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command(Method::GET, "/screenshot", None).await;
        base64_decode(encoded.as_str().expect("screenshot is base64 text"))
    }

    fn logs(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        format!("--- chromedriver.log (last lines)\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Deleting the session makes chromedriver end chromium; a plain blocking request, as Drop
        // cannot await (also runs when a test fails).
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = blocking_delete(self.port, &path);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE path` on 127.0.0.1:port over a bare socket, reading until the whole answer (headers
/// and `Content-Length` bytes) arrived: chromedriver keeps connections open.
fn blocking_delete(port: u16, path: &str) -> std::io::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(WAIT))?;
    write!(stream, "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n")?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                return Ok(());
            }
        }
    }
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|path| path.is_file())
}

/// Standard base64 (the WebDriver screenshot encoding); panics on anything else.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {:?}", c as char),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// The id of a notification created over REST for user 1 on `app`.
async fn create(app: &TestApp, title: &str) -> i64 {
    app.create_for_self(1, title).await["id"].as_i64().expect("notification id")
}

#[actix_web::test]
async fn the_test_page_shows_live_notifications_and_resumes_with_since_on_a_new_node() {
    let started = Instant::now();
    let (guard, database_url) = DbGuard::new(Backend::Sqlite);
    let first = TestApp::spawn_on(DbGuard::None, &database_url, &[]).await;
    let port = first.port;
    let browser = Browser::start().await;
    eprintln!("browser: chromium up after {:?}", started.elapsed());

    // The page loads its client module; this node has a configured secret: no minting offered.
    browser.goto(&first.url("/")).await;
    browser
        .wait_for("the page script ran", "return document.querySelector('#mint-hint').textContent !== '';", json!([]))
        .await;
    // The node's Content-Security-Policy is in force: the page's own script ran, an inline one
    // does not.
    let inline = "const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; \
                  document.head.appendChild(s); return window.inlineRan === true;";
    assert_eq!(browser.script(inline, json!([])).await, json!(false), "an inline script ran despite the CSP");
    let mint_hidden = browser.script("return document.querySelector('#mint-row').hidden;", json!([])).await;
    assert_eq!(mint_hidden, json!(true), "/dev/token answers 404 here, so no mint button");

    browser.type_into("#token", &token(1)).await;
    browser.click("#connect").await;
    browser.wait_text("#state", "open").await;
    browser.wait_text("#unread-badge", "0").await;

    // Created over REST: pushed to the page, listed, counted.
    let first_id = create(&first, "Created over REST").await;
    browser.wait_listed(first_id).await;
    browser.wait_text("#unread-badge", "1").await;
    let title = browser.text(&format!("#notifications li[data-id=\"{first_id}\"] .title")).await;
    assert_eq!(title, json!("Created over REST"));

    // Its Mark read button: the badge drops and the database agrees.
    browser.click(&format!("#notifications li[data-id=\"{first_id}\"] button.mark-read")).await;
    browser.wait_text("#unread-badge", "0").await;
    let read_class =
        "return document.querySelector(`#notifications li[data-id=\"${arguments[0]}\"]`).classList.contains('read');";
    browser.wait_for("the item shows read", read_class, json!([first_id])).await;
    let (status, body) = first.get("/auth/notifications/", &token(1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["notifications"][0]["id"], json!(first_id), "{body}");
    assert_eq!(body["notifications"][0]["is_read"], json!(true), "{body}");
    assert_eq!(body["unread_count"], json!(0), "{body}");

    // The node goes away under the page (sockets close with 1001): the client starts retrying.
    first.stop().await;
    drop(first);
    browser.wait_text("#state", "reconnecting").await;

    // A new node on the same port and database; a notification created as it comes up, while
    // the page is still retrying (or just back): it arrives either way, exactly once. (The page
    // keeps its URL, so the new node re-binds the port the stopped one held: the scenario.)
    let bind = format!("127.0.0.1:{port}");
    let second = TestApp::spawn_on(guard, &database_url, &[("HERALD_BIND", bind.as_str())]).await;
    let meanwhile_id = create(&second, "Created while the page was away").await;
    browser.wait_text("#state", "open").await;
    browser.wait_listed(meanwhile_id).await;
    browser.wait_text("#unread-badge", "1").await;
    let resumed = format!("since={first_id}");
    let log_has = "return document.querySelector('#log').textContent.includes(arguments[0]);";
    browser.wait_for("the reconnect resumed with since", log_has, json!([resumed])).await;
    let synced = "return [...document.querySelectorAll('#log li')].some((li) => \
                  li.textContent.includes('sync_complete') && li.textContent.includes(`\"last_id\":${arguments[0]}`));";
    let replayed = browser.script(synced, json!([meanwhile_id])).await;
    eprintln!(
        "browser: notification {meanwhile_id} came by {}",
        if replayed == json!(true) { "replay (since)" } else { "push" }
    );

    // And live pushes from the new node.
    let live_id = create(&second, "Live from the new node").await;
    browser.wait_listed(live_id).await;
    browser.wait_text("#unread-badge", "2").await;
    let items =
        browser.script("return document.querySelectorAll('#notifications li[data-id]').length;", json!([])).await;
    assert_eq!(items, json!(3), "each notification listed once\n{}", browser.page_summary().await);

    page_actions_work(&browser, &second, live_id, log_has).await;
    save_screenshot(&browser).await;
    drop(browser);
    second.stop().await;
    eprintln!("browser: scenario done in {:?}", started.elapsed());
}

/// The page's own actions: ping, the send form (to yourself: the reply lists it, no push comes
/// back to the sending socket) and an item's Delete button.
async fn page_actions_work(browser: &Browser, node: &TestApp, live_id: i64, log_has: &str) {
    browser.click("#ping").await;
    browser.wait_for("a pong", log_has, json!(["\"type\":\"pong\""])).await;
    browser.click("#send").await;
    let sent_id = live_id + 1;
    browser.wait_listed(sent_id).await;
    browser.wait_text("#unread-badge", "3").await;
    browser.click(&format!("#notifications li[data-id=\"{sent_id}\"] button.delete")).await;
    browser.wait_text("#unread-badge", "2").await;
    let gone = "return !document.querySelector(`#notifications li[data-id=\"${arguments[0]}\"]`);";
    browser.wait_for("the deleted item gone", gone, json!([sent_id])).await;
    let (status, body) = node.get("/auth/notifications/unread-count/", &token(1)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"unread_count": 2})));
}

/// Saves the final page as a test artifact (and as docs/test-page.png on request).
async fn save_screenshot(browser: &Browser) {
    browser.script("window.scrollTo(0, 0); return true;", json!([])).await;
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is a PNG");
    // The artifact of every run; the README's copy in docs/ is refreshed on request only, so a
    // test run leaves the tree clean.
    let artifacts = Path::new(ROOT).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("target/test-artifacts/");
    std::fs::write(artifacts.join("test-page.png"), &png).expect("write the screenshot");
    if std::env::var_os("HERALD_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(Path::new(ROOT).join("docs/test-page.png"), &png).expect("write docs/test-page.png");
    }
}
