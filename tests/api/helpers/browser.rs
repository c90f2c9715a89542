//! Headless chromium driven over WebDriver (W3C, JSON over HTTP with awc) by a chromedriver child
//! of the test: pages loaded from a node under its Content-Security-Policy, clicked and typed into
//! like a user would, polled with bounded waits, and saved as screenshots (test artifacts, and the
//! README's pictures in docs/ on request). Used by the test page's test (`ws::browser`) and the
//! admin console's (`admin::console_page`).

use super::{poll_every, wait_for as wait_for_value, WAIT};
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
/// The WebDriver key code of Enter (W3C WebDriver §17.4.2), for `type_into`.
pub const ENTER: &str = "\u{E007}";
/// What any page shows, for failure messages: its title, address and text (cut short).
const PAGE_TEXT: &str = "const text = document.body ? document.body.innerText : ''; \
    return `title: ${document.title}\\nhash: ${location.hash}\\ntext:\\n${text.slice(0, 4000)}`;";

/// A chromedriver child (killed by its PID on Drop) with one headless chromium session
/// (deleted on Drop, which ends the browser) and a private profile directory.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    client: awc::Client,
    dir: tempfile::TempDir,
    /// A script whose string answer says what the page shows when a wait fails.
    summary: String,
}

impl Browser {
    /// Starts chromedriver and a headless chromium session (1280×1200 window, the browser's
    /// console log kept for `console_log`).
    pub async fn start() -> Browser {
        let chromedriver = find_file(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
            .expect("chromedriver is installed (.ci/run installs it: apt-get install chromium chromium-driver)");
        let chromium = find_file(&["/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"])
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
        let summary = PAGE_TEXT.to_owned();
        let mut browser = Browser { driver, port: 0, session: String::new(), client, dir, summary };
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
            "goog:loggingPrefs": {"browser": "ALL"},
            "timeouts": {"implicit": 0, "pageLoad": 30_000, "script": 10_000},
        }}});
        let (status, body) = browser.send(Method::POST, "/session", Some(capabilities)).await;
        assert!(status.is_success(), "chromium did not start: {status} {body}\n{}", browser.logs());
        browser.session = body["value"]["sessionId"].as_str().expect("a session id").to_owned();
        browser
    }

    /// The same browser, whose failed waits report what `script` (a function body answering a
    /// string) says of the page, in place of the page's text.
    pub fn summarized_by(mut self, script: &str) -> Browser {
        self.summary = script.to_owned();
        self
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
    pub async fn command(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let (status, answer) = self.send(method, &path, body).await;
        assert!(status.is_success(), "WebDriver {path}: {status} {answer}");
        answer["value"].clone()
    }

    /// Loads `url` (returns once the page loaded).
    pub async fn goto(&self, url: &str) {
        self.command(Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// The WebDriver reference of the first element matching `css`; fails the test (with what the
    /// page shows) when there is none.
    pub async fn find(&self, css: &str) -> String {
        let query = json!({"using": "css selector", "value": css});
        let path = format!("/session/{}/element", self.session);
        let (status, found) = self.send(Method::POST, &path, Some(query)).await;
        match found["value"][ELEMENT].as_str() {
            Some(id) if status.is_success() => id.to_owned(),
            _ => panic!("no element {css}: {status} {found}\n{}", self.summary().await),
        }
    }

    /// A real click (chromedriver scrolls the element into view and clicks its centre).
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.command(Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    /// Types `text` into the element, as keystrokes (`ENTER` presses Enter).
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.command(Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text }))).await;
    }

    /// Empties an input or textarea (WebDriver Element Clear).
    pub async fn clear(&self, css: &str) {
        let id = self.find(css).await;
        self.command(Method::POST, &format!("/element/{id}/clear"), Some(json!({}))).await;
    }

    /// Moves the mouse to the point (`x`, `y`) of the viewport (off a hovered element, say).
    pub async fn move_mouse(&self, x: i64, y: i64) {
        let moves = [json!({"type": "pointerMove", "duration": 0, "x": x, "y": y, "origin": "viewport"})];
        let mouse = json!({"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": moves});
        self.command(Method::POST, "/actions", Some(json!({ "actions": [mouse] }))).await;
    }

    /// Picks the option of value `value` in the `<select>` matching `css`, by clicking it.
    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]")).await;
    }

    /// Resizes the window so that the page's viewport is `width`×`height` CSS pixels (the
    /// window's own frame, if any, added), as screenshots are taken of the viewport.
    pub async fn set_viewport(&self, width: i64, height: i64) {
        let mut window = (width, height);
        for _ in 0..3 {
            self.command(Method::POST, "/window/rect", Some(json!({"width": window.0, "height": window.1}))).await;
            let inner = self.script("return [window.innerWidth, window.innerHeight];", json!([])).await;
            let (w, h) = (inner[0].as_i64().unwrap_or(0), inner[1].as_i64().unwrap_or(0));
            if (w, h) == (width, height) {
                return;
            }
            window = (window.0 + width - w, window.1 + height - h);
        }
        panic!("the viewport did not become {width}×{height}");
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its return value.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.command(Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// The text of the first element matching `css` (null when there is none).
    pub async fn text(&self, css: &str) -> Value {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;";
        self.script(script, json!([css])).await
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> i64 {
        let found = self.script("return document.querySelectorAll(arguments[0]).length;", json!([css])).await;
        found.as_i64().expect("a count")
    }

    /// Polls until `script` returns true; fails after WAIT with what the page shows.
    pub async fn wait_for(&self, what: &str, script: &str, args: Value) {
        let shown = async || if self.script(script, args.clone()).await == json!(true) { Ok(()) } else { Err(()) };
        if poll_every(Duration::from_millis(50), WAIT, shown).await.is_err() {
            panic!("page: {what} not within {WAIT:?}\n{}", self.summary().await);
        }
    }

    /// Polls until the element's text is `expected`.
    pub async fn wait_text(&self, css: &str, expected: &str) {
        let script =
            "const e = document.querySelector(arguments[0]); return !!e && e.textContent.trim() === arguments[1];";
        self.wait_for(&format!("{css} reads {expected:?}"), script, json!([css, expected])).await;
    }

    /// Polls until the element's text contains `part`.
    pub async fn wait_text_has(&self, css: &str, part: &str) {
        let script =
            "const e = document.querySelector(arguments[0]); return !!e && e.textContent.includes(arguments[1]);";
        self.wait_for(&format!("{css} mentions {part:?}"), script, json!([css, part])).await;
    }

    /// Polls until exactly `n` elements match `css`.
    pub async fn wait_count(&self, css: &str, n: i64) {
        let script = "return document.querySelectorAll(arguments[0]).length === arguments[1];";
        self.wait_for(&format!("{n} of {css}"), script, json!([css, n])).await;
    }

    /// What the page shows (the `summarized_by` script's answer), for failure messages; the
    /// newest lines of the browser's console too.
    pub async fn summary(&self) -> String {
        let page = match self.script(&self.summary, json!([])).await {
            Value::String(summary) => summary,
            other => other.to_string(),
        };
        let console: Vec<String> =
            self.console_log().await.iter().rev().take(10).map(|entry| entry["message"].to_string()).collect();
        format!("{page}\n--- browser console (newest first)\n{}", console.join("\n"))
    }

    /// The browser console's entries since the last call (`level`, `message`, `source`), as
    /// chromedriver keeps them (its `se/log` extension; CSP violations are `SEVERE`).
    pub async fn console_log(&self) -> Vec<Value> {
        let path = format!("/session/{}/se/log", self.session);
        let (status, answer) = self.send(Method::POST, &path, Some(json!({"type": "browser"}))).await;
        match answer["value"].as_array() {
            Some(entries) if status.is_success() => entries.clone(),
            _ => vec![json!({"level": "SEVERE", "message": format!("no browser log: {status} {answer}")})],
        }
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command(Method::GET, "/screenshot", None).await;
        let png = base64_decode(encoded.as_str().expect("screenshot is base64 text"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is a PNG");
        png
    }

    /// Scrolls to the top and saves the viewport as target/test-artifacts/`name` on every run,
    /// and as docs/`name` (the README's copy) when HERALD_UPDATE_SCREENSHOT is set: a test run
    /// leaves the tree clean.
    pub async fn save_screenshot(&self, name: &str) {
        self.script("window.scrollTo(0, 0); return true;", json!([])).await;
        let png = self.screenshot().await;
        let artifacts = Path::new(ROOT).join("target/test-artifacts");
        std::fs::create_dir_all(&artifacts).expect("target/test-artifacts/");
        std::fs::write(artifacts.join(name), &png).expect("write the screenshot");
        if std::env::var_os("HERALD_UPDATE_SCREENSHOT").is_some() {
            std::fs::write(Path::new(ROOT).join("docs").join(name), &png).expect("write the screenshot in docs/");
        }
    }

    /// chromedriver's newest log lines, for failure messages.
    pub fn logs(&self) -> String {
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

/// The first of `candidates` that is a file.
fn find_file(candidates: &[&str]) -> Option<PathBuf> {
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
