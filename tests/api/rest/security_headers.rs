//! Security headers from Herald itself, for deployments without nginx: every reply (the test
//! page, its files, the API, errors, 404s) carries HSTS, `nosniff`, `no-referrer` and a CSP that
//! lets the page load only the node's own files and never be framed; and the page has no inline
//! script or style for that CSP to block (tests/api/ws/browser.rs runs it in chromium under it).

use crate::helpers::*;
use awc::http::StatusCode;

/// Each header exactly once, with these values.
const EXPECTED: [(&str, &str); 3] = [
    ("strict-transport-security", "max-age=31536000"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

async fn get(app: &TestApp, path: &str) -> (StatusCode, awc::http::header::HeaderMap, String) {
    let mut res = awc::Client::default().get(app.url(path)).send().await.expect("request reaches the node");
    let body = res.body().limit(1024 * 1024).await.expect("body");
    (res.status(), res.headers().clone(), String::from_utf8_lossy(&body).into_owned())
}

#[actix_web::test]
async fn every_reply_carries_the_security_headers_and_the_test_page_inlines_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (path, expected) in [
        ("/", StatusCode::OK),
        ("/static/test-page.js", StatusCode::OK),
        ("/static/test-page.css", StatusCode::OK),
        ("/static/herald.js", StatusCode::OK),
        ("/healthz", StatusCode::OK),
        ("/auth/notifications/", StatusCode::UNAUTHORIZED),
        ("/no/such/path", StatusCode::NOT_FOUND),
    ] {
        let (status, headers, _) = get(&app, path).await;
        assert_eq!(status, expected, "{path}");
        for (name, value) in EXPECTED {
            let values: Vec<_> = headers.get_all(name).filter_map(|v| v.to_str().ok()).collect();
            assert_eq!(values, [value], "{path}: {name}");
        }
        let csp: Vec<_> = headers.get_all("content-security-policy").filter_map(|v| v.to_str().ok()).collect();
        let [csp] = csp[..] else { panic!("{path}: one Content-Security-Policy, not {csp:?}") };
        let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
        for directive in ["default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'"] {
            assert!(directives.contains(&directive), "{path}: {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
    }

    // Under that CSP an inline script or style would not run: the page has none, and every file
    // it names is served.
    let (_, _, page) = get(&app, "/").await;
    let lower = page.to_ascii_lowercase();
    assert!(!lower.contains("<style"), "no inline <style>");
    assert!(!lower.contains(" style="), "no style attributes");
    for tag in lower.split("<script").skip(1) {
        let open = tag.split('>').next().unwrap_or("");
        assert!(open.contains(" src="), "an inline <script{open}>");
        assert!(tag.split('>').nth(1).is_some_and(|body| body.trim_start().starts_with("</script")), "{tag}");
    }
    let handlers = lower.match_indices(" on").filter(|(at, _)| {
        let name: String = lower[at + 3..].chars().take_while(char::is_ascii_alphabetic).collect();
        !name.is_empty() && lower[at + 3 + name.len()..].starts_with('=')
    });
    assert_eq!(handlers.count(), 0, "no inline event handler attributes");
    for reference in page.split(['"', '\'']).filter(|s| s.starts_with("/static/")) {
        assert_eq!(get(&app, reference).await.0, StatusCode::OK, "{reference}");
    }
}
