//! deploy/nginx.conf and gen-dev-cert.sh: WebSocket upgrade, timeouts, no token redirected.

use super::dockerfile::dockerfile_exposed_port;
use super::{default_of, read};

/// The text of the block that opens with the line `header` (e.g. `location /ws/ {`).
fn block<'a>(conf: &'a str, header: &str) -> &'a str {
    let start = conf.find(header).unwrap_or_else(|| panic!("nginx.conf has no `{header}`")) + header.len();
    let mut depth = 1;
    for (offset, c) in conf[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &conf[start..start + offset];
                }
            }
            _ => {}
        }
    }
    panic!("`{header}` is never closed")
}

/// `conf` from its first line that is exactly `line` (a comment quoting it does not count).
fn from_line<'a>(conf: &'a str, line: &str) -> &'a str {
    let mut offset = 0;
    for l in conf.split_inclusive('\n') {
        if l.trim() == line {
            return &conf[offset..];
        }
        offset += l.len();
    }
    panic!("nginx.conf has no line `{line}`")
}

/// Directive lines of a block (comments dropped), `;` removed.
fn directives(block: &str) -> Vec<String> {
    block
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.trim_end_matches(';').to_owned())
        .collect()
}

fn seconds(value: &str) -> u64 {
    let (number, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len()));
    let n: u64 = number.parse().unwrap_or_else(|_| panic!("a duration: {value}"));
    match unit {
        "" | "s" => n,
        "m" => n * 60,
        other => panic!("unit {other} in {value}"),
    }
}

#[test]
fn nginx_upgrades_websockets_and_outlasts_the_server_pings() {
    let conf = read("deploy/nginx.conf");
    let ws = directives(block(&conf, "location /ws/ {"));
    for needed in [
        "proxy_pass http://herald",
        "proxy_http_version 1.1",
        "proxy_set_header Upgrade $http_upgrade",
        "proxy_set_header Connection \"upgrade\"",
        "proxy_buffering off",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for",
        "proxy_set_header X-Forwarded-Proto $scheme",
    ] {
        assert!(ws.iter().any(|d| d == needed), "location /ws/ lacks `{needed};`: {ws:?}");
    }
    let read_timeout = ws
        .iter()
        .find_map(|d| d.strip_prefix("proxy_read_timeout "))
        .map(|v| seconds(v.trim()))
        .expect("proxy_read_timeout in location /ws/");
    for name in ["HERALD_WS_PING_INTERVAL_SECS", "HERALD_WS_PING_TIMEOUT_SECS"] {
        let default: u64 = default_of(name).parse().expect("a number of seconds");
        assert!(read_timeout > default, "proxy_read_timeout {read_timeout}s must exceed {name} ({default}s)");
    }

    let https = from_line(&conf, "listen 443 ssl;");
    let rest = directives(block(https, "location / {"));
    for needed in [
        "proxy_pass http://herald",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for",
        "proxy_set_header X-Forwarded-Proto $scheme",
    ] {
        assert!(rest.iter().any(|d| d == needed), "the HTTPS location / lacks `{needed};`: {rest:?}");
    }

    // The upstream is the compose service on the image's port, re-resolved through Docker's DNS
    // (scaled replicas join without a reload); TLS uses gen-dev-cert.sh's files.
    let all = directives(&conf);
    let upstream = directives(block(&conf, "upstream herald {"));
    let server = format!("server herald:{} resolve", dockerfile_exposed_port());
    assert!(upstream.contains(&server), "the upstream has `{server};`: {upstream:?}");
    assert!(upstream.iter().any(|d| d.starts_with("zone ")), "`resolve` needs a shared zone: {upstream:?}");
    assert!(all.iter().any(|d| d.starts_with("resolver 127.0.0.11 valid=")), "Docker's DNS as resolver");
    assert!(all.contains(&"ssl_certificate /etc/nginx/certs/herald.crt".to_owned()));
    assert!(all.contains(&"ssl_certificate_key /etc/nginx/certs/herald.key".to_owned()));
    assert!(all.contains(&"return 301 https://$host$request_uri".to_owned()), "port 80 redirects to HTTPS");
    // ... except WebSockets, whose URL carries the token: refused, never put in a Location.
    let plain = from_line(&conf[..conf.len() - https.len()], "listen 80;");
    let plain_ws = directives(block(plain, "location /ws {"));
    assert!(plain_ws.iter().any(|d| d.starts_with("return 403 ")), "port 80 answers /ws with 403: {plain_ws:?}");
    for query in ["$request_uri", "$args", "$query_string", "$is_args", "$arg_token"] {
        assert!(!plain_ws.iter().any(|d| d.contains(query)), "port 80 /ws must not echo {query}: {plain_ws:?}");
    }
    let script = read("deploy/gen-dev-cert.sh");
    for needed in
        ["herald.crt", "herald.key", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days 365"]
    {
        assert!(script.contains(needed), "gen-dev-cert.sh: {needed}");
    }
    assert!(read(".gitignore").lines().any(|l| l.trim() == "deploy/certs/"), "certificates are never committed");
}

/// `/readyz` and `/metrics` are answered 404 by nginx itself, never proxied: each replica serves
/// them on its ops listener, for Prometheus and the healthcheck only (tests/api/deploy/nginx.rs
/// checks it under a real nginx).
#[test]
fn nginx_answers_the_ops_endpoints_itself() {
    let conf = read("deploy/nginx.conf");
    let https = from_line(&conf, "listen 443 ssl;");
    let ops = directives(block(https, "location ~ ^/(metrics|readyz)/?$ {"));
    assert!(ops.iter().any(|d| d.starts_with("return 404 ")), "{ops:?}");
    assert!(!ops.iter().any(|d| d.starts_with("proxy_pass")), "{ops:?}");
}
