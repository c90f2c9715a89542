//! deploy/nginx.conf under a real nginx in front of two Herald nodes (SPEC §6): REST over HTTPS,
//! WebSockets over wss, a node stopped under a socket and the client resuming with `since`
//! through nginx onto the other node, exactly once. The file is the one docker-compose.yml
//! mounts, rendered for a temporary directory: only the texts its header lists are replaced.
//! The certificate comes from deploy/gen-dev-cert.sh and clients verify it (no "insecure").

use crate::helpers::{
    cluster, connected_ports, id_of, poll, prove_listening, run_herald, start_on_candidates, token, wait_for, Backend,
    TestApp, Unproven, WsClient, SECRET, WAIT,
};
use serde_json::{json, Value};
use std::fs::File;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::Connector;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CREATE: &str = "/auth/notifications/create/";

/// nginx running `deploy/nginx.conf` from a temporary directory, as one process
/// (`master_process off`), killed by its PID on Drop.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    http_port: u16,
    https_port: u16,
}

impl Nginx {
    /// Renders the config for `upstreams` (node ports on 127.0.0.1), starts nginx and waits
    /// (bounded) until it listens on both of its ports. No admin allow-list.
    fn start(upstreams: &[u16]) -> Nginx {
        Nginx::start_with_admin_allow(upstreams, "")
    }

    /// `start`, with the admin allow-list deploy/nginx-admin-allow.sh writes for
    /// `HERALD_ADMIN_ALLOW=admin_allow`, as the container's entrypoint does.
    fn start_with_admin_allow(upstreams: &[u16], admin_allow: &str) -> Nginx {
        let binary = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"]
            .into_iter()
            .find(|path| Path::new(path).is_file())
            .expect("nginx is installed (.ci/run installs it: apt-get install nginx)");
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("bash")
            .arg(format!("{ROOT}/deploy/gen-dev-cert.sh"))
            .arg(dir.path().join("certs"))
            .stdout(Stdio::null())
            .status()
            .expect("run deploy/gen-dev-cert.sh");
        assert!(status.success(), "deploy/gen-dev-cert.sh failed: {status}");
        std::fs::create_dir(dir.path().join("temp")).expect("temp paths' parent");
        let status = Command::new("sh")
            .arg(format!("{ROOT}/deploy/nginx-admin-allow.sh"))
            .env("HERALD_ADMIN_ALLOW", admin_allow)
            .env("HERALD_ADMIN_ALLOW_FILE", dir.path().join("herald-admin-allow.conf"))
            .stdout(Stdio::null())
            .status()
            .expect("run deploy/nginx-admin-allow.sh");
        assert!(status.success(), "deploy/nginx-admin-allow.sh refused {admin_allow:?}: {status}");
        let conf = std::fs::read_to_string(format!("{ROOT}/deploy/nginx.conf")).expect("deploy/nginx.conf");
        // nginx binds the ports its config names: candidates, again on new ones when another
        // process took one before nginx bound it (nginx then exits on its failed bind).
        let (child, http_port, https_port) = start_on_candidates("nginx", 2, |ports| {
            let [http_port, https_port] = ports[..] else { unreachable!("two ports") };
            let mut child = spawn(binary, dir.path(), &render(&conf, dir.path(), upstreams, http_port, https_port));
            match prove_listening(&mut child, &[https_port, http_port], WAIT, || Ok(())) {
                Ok(()) => Ok((child, http_port, https_port)),
                Err(Unproven::Exited(_)) if logs_in(dir.path()).contains("Address already in use") => {
                    Err(logs_in(dir.path()))
                }
                Err(why) => panic!("nginx did not listen on {ports:?}: {why}\n{}", logs_in(dir.path())),
            }
        });
        Nginx { child, dir, http_port, https_port }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("certs/herald.crt")
    }

    fn https(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.https_port)
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Everything nginx logged, for failure messages.
    fn logs(&self) -> String {
        logs_in(self.dir.path())
    }
}

/// Writes the rendered config to `dir` and starts nginx on it, its logs fresh.
fn spawn(binary: &str, dir: &Path, rendered: &str) -> Child {
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, rendered).expect("write rendered nginx.conf");
    let _ = std::fs::remove_file(dir.join("error.log"));
    let stderr = File::create(dir.join("stderr.log")).expect("stderr log");
    Command::new(binary)
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(dir.join("error.log"))
        .args(["-g", "daemon off; master_process off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start nginx")
}

/// Everything nginx logged in `dir`, for failure messages.
fn logs_in(dir: &Path) -> String {
    let file = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!("--- error.log\n{}--- stderr\n{}", file("error.log"), file("stderr.log"))
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `deploy/nginx.conf` for a run in `dir`: the substitutions its header lists, each required to
/// match exactly where it should, plus `pid` and temp paths under `dir`.
fn render(conf: &str, dir: &Path, upstreams: &[u16], http_port: u16, https_port: u16) -> String {
    let d = dir.display();
    let mut seen = [0usize; 4];
    let mut out = vec![format!("pid {d}/nginx.pid;")];
    for line in conf.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        match line.trim() {
            "server herald:8000 resolve;" => {
                seen[0] += 1;
                out.extend(upstreams.iter().map(|port| format!("{indent}server 127.0.0.1:{port};")));
            }
            "listen 80;" => {
                seen[1] += 1;
                out.push(format!("{indent}listen 127.0.0.1:{http_port};"));
            }
            "listen 443 ssl;" => {
                seen[2] += 1;
                out.push(format!("{indent}listen 127.0.0.1:{https_port} ssl;"));
            }
            "http {" => {
                seen[3] += 1;
                out.push(line.to_owned());
                for kind in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
                    out.push(format!("{indent}    {kind}_temp_path {d}/temp/{kind};"));
                }
            }
            _ => out.push(
                line.replace("/etc/nginx/certs/", &format!("{d}/certs/"))
                    .replace("/var/log/nginx/", &format!("{d}/"))
                    .replace("/etc/nginx/herald-admin-allow.conf", &format!("{d}/herald-admin-allow.conf")),
            ),
        }
    }
    assert_eq!(seen, [1, 1, 1, 1], "deploy/nginx.conf must keep the lines its header lists, once each");
    let certificates = conf
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("ssl_certificate") && l.contains(" /etc/nginx/certs/herald."))
        .count();
    assert_eq!(certificates, 2, "ssl_certificate and ssl_certificate_key under /etc/nginx/certs/");
    assert!(conf.contains("include /etc/nginx/herald-admin-allow.conf;"), "the admin allow-list is included");
    out.join("\n") + "\n"
}

/// One HTTPS request through nginx with curl (verifying nginx's certificate); status and JSON
/// body. Runs on the blocking pool, so the nodes' tasks on this thread keep running.
async fn curl(nginx: &Nginx, method: &str, path: &str, bearer: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut args: Vec<String> = vec!["-sS".into(), "--max-time".into(), "10".into(), "--cacert".into()];
    args.push(nginx.cert().display().to_string());
    args.extend(["-X".into(), method.into(), "-w".into(), "\n%{http_code}".into()]);
    if let Some(token) = bearer {
        args.extend(["-H".into(), format!("Authorization: Bearer {token}")]);
    }
    if let Some(body) = body {
        args.extend(["-H".into(), "Content-Type: application/json".into(), "--data".into(), body.to_string()]);
    }
    args.push(nginx.https(path));
    let output = tokio::task::spawn_blocking(move || Command::new("curl").args(&args).output())
        .await
        .expect("curl task")
        .expect("curl is installed");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "curl {method} {path} failed: {}", String::from_utf8_lossy(&output.stderr));
    let (body, status) = stdout.rsplit_once('\n').unwrap_or_else(|| panic!("curl output without a status: {stdout}"));
    let status: u16 = status.trim().parse().unwrap_or_else(|_| panic!("curl status: {stdout}"));
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path} answered non-JSON ({e}): {body}"))
    };
    (status, body)
}

/// Creates a notification for user 1 through nginx; returns it.
async fn create_through(nginx: &Nginx, title: &str) -> Value {
    let (status, body) = curl(nginx, "POST", CREATE, Some(&token(1)), Some(json!({ "title": title }))).await;
    assert_eq!(status, 201, "create through nginx: {body}");
    body["notification"].clone()
}

/// A WebSocket through nginx over TLS, trusting only the test's certificate.
async fn connect_wss(nginx: &Nginx, query: &str) -> WsClient {
    let pem = std::fs::read(nginx.cert()).expect("certificate");
    let tls = native_tls::TlsConnector::builder()
        .add_root_certificate(native_tls::Certificate::from_pem(&pem).expect("PEM certificate"))
        .build()
        .expect("TLS connector");
    let url = format!("wss://127.0.0.1:{}/ws/notifications/{query}", nginx.https_port);
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(url, Some(config), false, Some(Connector::NativeTls(tls)));
    let (stream, response) = tokio::time::timeout(WAIT, connecting)
        .await
        .expect("wss handshake within WAIT")
        .unwrap_or_else(|e| panic!("wss handshake through nginx failed: {e}\n{}", nginx.logs()));
    assert_eq!(response.status().as_u16(), 101);
    WsClient { stream }
}

/// The node whose port nginx's single upstream connection goes to (bounded wait).
async fn node_under_socket(nginx: &Nginx, nodes: &[TestApp]) -> usize {
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    let port =
        wait_for("nginx's one upstream connection", WAIT, async || match connected_ports(nginx.pid(), &ports)[..] {
            [port] => Ok(port),
            ref found => Err(format!("connections to {ports:?}: {found:?}")),
        })
        .await;
    ports.iter().position(|p| *p == port).expect("a node port")
}

/// `GET url` with curl (trusting the test's certificate): the status and the response headers,
/// names lowercased, in order.
async fn curl_headers(nginx: &Nginx, url: String) -> (u16, Vec<(String, String)>) {
    let cert = nginx.cert().display().to_string();
    let args = ["-sS", "--max-time", "10", "--cacert", &cert, "-o", "/dev/null", "-D", "-", &url].map(str::to_owned);
    let output = tokio::task::spawn_blocking(move || Command::new("curl").args(&args).output())
        .await
        .expect("curl task")
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "curl {url}: {}", String::from_utf8_lossy(&output.stderr));
    let mut lines = text.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers)
}

/// Every reply through nginx, proxied or nginx's own, carries each security header exactly once
/// (Herald's are replaced, not doubled), with the values Herald sends without nginx.
#[actix_web::test]
async fn every_reply_through_nginx_carries_the_security_headers_once() {
    let node = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let nginx = Nginx::start(&[node.port]);
    let urls = [
        (nginx.https("/"), 200),
        (nginx.https("/static/test-page.js"), 200),
        (nginx.https("/auth/notifications/"), 401),
        (nginx.https("/metrics"), 404),
        (format!("http://127.0.0.1:{}/auth/notifications/", nginx.http_port), 301),
    ];
    for (url, expected) in urls {
        let (status, headers) = curl_headers(&nginx, url.clone()).await;
        assert_eq!(status, expected, "{url}: {headers:?}");
        for (name, value) in herald::http::SECURITY_HEADERS {
            let values: Vec<&str> =
                headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
            assert_eq!(values, [value], "{url}: {name} once\n{headers:?}");
        }
    }
    let csp = herald::http::SECURITY_HEADERS.iter().find(|(n, _)| *n == "Content-Security-Policy").expect("a CSP");
    assert!(csp.1.contains("default-src 'self'") && csp.1.contains("frame-ancestors 'none'"), "{csp:?}");
}

#[actix_web::test]
async fn rest_and_wss_through_nginx_survive_a_node_stop_with_every_notification_once() {
    let (_db, _redis, nodes) = cluster(2, &[]).await;
    let nginx = Nginx::start(&[nodes[0].port, nodes[1].port]);
    let user_token = token(1);

    // Plain HTTP only redirects to HTTPS.
    let redirect = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"])
        .arg(format!("http://127.0.0.1:{}/auth/notifications/?limit=1", nginx.http_port))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&redirect.stdout), "301 https://127.0.0.1/auth/notifications/?limit=1");
    // A WebSocket URL on port 80 is refused: its token is never echoed in a Location header.
    let refused = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{}/ws/notifications/?token={user_token}", nginx.http_port))
        .output()
        .expect("curl");
    let answer = String::from_utf8_lossy(&refused.stdout);
    assert!(answer.ends_with("403"), "{answer}");
    assert!(!answer.to_ascii_lowercase().contains("location") && !answer.contains(&user_token), "{answer}");

    // REST over HTTPS, and Herald's own JSON errors pass through untouched.
    assert_eq!(curl(&nginx, "GET", "/healthz", None, None).await, (200, json!({"status": "ok"})));
    let (status, body) = curl(&nginx, "GET", "/auth/notifications/", None, None).await;
    assert_eq!((status, body["error"]["code"].clone()), (401, json!("unauthorized")), "{body}");

    // wss through nginx: the greeting, then a notification created through nginx.
    let mut first = connect_wss(&nginx, &format!("?token={user_token}")).await;
    let hello = first.next_json().await;
    assert_eq!(hello["type"], "connection_established", "{hello}");
    let one = create_through(&nginx, "one").await;
    assert_eq!(first.next_json().await, json!({"type": "notification", "notification": one}));

    // Stop the node under the socket: the client is told 1001 (going away) through nginx.
    let landed = node_under_socket(&nginx, &nodes).await;
    let stopping = tokio::time::timeout(WAIT, nodes[landed].stop());
    let ((code, before), stopped) = tokio::join!(first.expect_close(), stopping);
    stopped.expect("node stops within WAIT");
    assert_eq!(code, 1001, "frames before the close: {before:?}");
    assert!(before.is_empty(), "nothing after `one`: {before:?}");

    // Created while the client is away; nginx sends it to the node still running.
    let two = create_through(&nginx, "two").await;

    // Resume through nginx (now necessarily on the other node) from the last id seen.
    let mut resumed = connect_wss(&nginx, &format!("?token={user_token}&since={}", id_of(&one))).await;
    let hello = resumed.next_json().await;
    assert_eq!(hello["type"], "connection_established", "{hello}");
    assert_eq!(node_under_socket(&nginx, &nodes).await, 1 - landed);
    assert_eq!(resumed.next_json().await, json!({"type": "notification", "notification": two}));
    assert_eq!(resumed.next_json().await, json!({"type": "sync_complete", "last_id": id_of(&two)}));
    let three = create_through(&nginx, "three").await;
    assert_eq!(resumed.next_json().await, json!({"type": "notification", "notification": three}));
    resumed.expect_silence(Duration::from_millis(500)).await;
    let ids = [id_of(&one), id_of(&two), id_of(&three)];
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "increasing ids: {ids:?}");

    let (status, list) = curl(&nginx, "GET", "/auth/notifications/", Some(&user_token), None).await;
    assert_eq!(status, 200, "{list}");
    let listed: Vec<i64> = list["notifications"].as_array().expect("notifications").iter().map(id_of).collect();
    assert_eq!(listed, vec![ids[2], ids[1], ids[0]], "every notification stored once, newest first");

    // With no node left, nginx answers in Herald's error envelope, not HTML.
    resumed.close().await;
    tokio::time::timeout(WAIT, nodes[1 - landed].stop()).await.expect("node stops within WAIT");
    let (status, body) = curl(&nginx, "GET", "/healthz", None, None).await;
    assert_eq!((status, body["error"]["code"].clone()), (503, json!("unavailable")), "{body}");

    // Both handshakes are logged (when their sockets end), never with the token.
    let both_logged = async || nginx.file("access.log").matches("/ws/notifications/").count() >= 2;
    if poll(WAIT, async || if both_logged().await { Ok(()) } else { Err(()) }).await.is_err() {
        panic!("access log:\n{}", nginx.file("access.log"));
    }
    for log in ["access.log", "error.log"] {
        let text = nginx.file(log);
        assert!(!text.contains(&user_token) && !text.contains("token="), "{log} shows a token:\n{text}");
    }
}

/// The ops endpoints are never proxied: through nginx, `/readyz` and `/metrics`, in any spelling
/// nginx normalizes to them, answer 404 in Herald's envelope, even from a node that serves them
/// on the proxied port (no `HERALD_OPS_BIND` here). Prometheus and the healthcheck reach each
/// replica's ops listener directly (docker-compose.yml).
#[actix_web::test]
async fn nginx_never_proxies_readyz_or_metrics() {
    let node = TestApp::spawn(Backend::Sqlite).await;
    let nginx = Nginx::start(&[node.port]);
    let (status, body) = node.call(awc::http::Method::GET, "/readyz", None, None).await;
    assert_eq!(status, 200, "the node itself serves /readyz on the port nginx proxies to: {body}");
    for path in ["/readyz", "/readyz/", "/metrics", "/metrics/", "//readyz", "/%72eadyz", "/readyz?probe=1"] {
        let (status, body) = curl(&nginx, "GET", path, None, None).await;
        assert_eq!((status, body["error"]["code"].clone()), (404, json!("not_found")), "{path}: {body}");
    }
    assert_eq!(curl(&nginx, "GET", "/healthz", None, None).await, (200, json!({"status": "ok"})));
}

/// `herald selftest --url https://…` through nginx: TLS (the dev certificate, trusted through
/// `SSL_CERT_FILE`), REST, wss and SSE, as an operator checks a deployment.
#[actix_web::test]
async fn selftest_passes_through_nginx_over_https_and_wss() {
    let (_db, _redis, nodes) = cluster(2, &[]).await;
    let nginx = Nginx::start(&[nodes[0].port, nodes[1].port]);
    let url = format!("https://127.0.0.1:{}", nginx.https_port);
    let cert = nginx.cert().display().to_string();
    let out = actix_web::rt::task::spawn_blocking(move || {
        run_herald(
            &std::env::temp_dir(),
            &["selftest", "--url", &url, "--user", "43"],
            &[("RUST_LOG", "warn"), ("JWT_SECRET", SECRET), ("SSL_CERT_FILE", &cert)],
        )
    })
    .await
    .expect("blocking task");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "selftest over https failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("https://127.0.0.1"), "{stdout}");
    // The SSE stream through nginx's /sse/ location: unbuffered, a push and a resume.
    assert!(stdout.lines().any(|l| l.starts_with("PASS") && l.contains("SSE stream")), "{stdout}");
}

/// `HERALD_ADMIN_ALLOW` limits `/admin` (the console and its API) to its networks: from
/// elsewhere nginx answers 403 in Herald's envelope before any node sees the request, while the
/// rest of the API is unaffected; from an allowed network the console works; a value that is
/// not a network is refused (the container would not start).
#[actix_web::test]
async fn herald_admin_allow_limits_the_console_to_its_networks() {
    let node = TestApp::spawn(Backend::Sqlite).await;
    let staff = crate::helpers::staff_token(1);
    let elsewhere = Nginx::start_with_admin_allow(&[node.port], "10.255.255.0/24, 192.0.2.1");
    for path in ["/admin/", "/admin", "/admin/api/cluster/"] {
        let (status, body) = curl(&elsewhere, "GET", path, Some(&staff), None).await;
        assert_eq!((status, body["error"]["code"].clone()), (403, json!("forbidden")), "{path}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("HERALD_ADMIN_ALLOW")), "{body}");
    }
    assert_eq!(curl(&elsewhere, "GET", "/healthz", None, None).await, (200, json!({"status": "ok"})));
    assert_eq!(create_through(&elsewhere, "not the console").await["title"], "not the console");

    let here = Nginx::start_with_admin_allow(&[node.port], "127.0.0.1");
    let (status, overview) = curl(&here, "GET", "/admin/api/cluster/", Some(&staff), None).await;
    assert_eq!((status, overview["broker"].clone()), (200, json!("memory")), "{overview}");
    // Herald's own refusal of a token that is not staff passes through.
    let (status, body) = curl(&here, "GET", "/admin/api/cluster/", Some(&token(5)), None).await;
    assert_eq!((status, body["error"]["code"].clone()), (403, json!("forbidden")), "{body}");

    let refused = Command::new("sh")
        .arg(format!("{ROOT}/deploy/nginx-admin-allow.sh"))
        .env("HERALD_ADMIN_ALLOW", "10.0.0.0/8; allow all")
        .env("HERALD_ADMIN_ALLOW_FILE", elsewhere.dir.path().join("refused.conf"))
        .output()
        .expect("run deploy/nginx-admin-allow.sh");
    assert!(!refused.status.success(), "a value that is not a network is refused");
}
