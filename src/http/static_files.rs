//! The admin console at `/admin/` (`static/admin/`), the test page at `/` with its script and style (`/static/test-page.js`, `/static/test-page.css`:
//! files, never inline, for the CSP of `super::headers`) and the reusable JS client at
//! `/static/herald.js`, compiled into the binary (no files to deploy, works offline), and `GET /dev/token`, which mints a token only
//! while the node runs with its random development secret, and only for a caller on this machine
//! that named it by a loopback name (404 otherwise).

use crate::auth::mint::mint_token;
use crate::config::JwtConfig;
use crate::domain::{QueryString, UserId};
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use std::time::Duration;

const INDEX_HTML: &str = include_str!("../../static/index.html");
const HERALD_JS: &str = include_str!("../../clients/js/herald.js");
const TEST_PAGE_JS: &str = include_str!("../../static/test-page.js");
const TEST_PAGE_CSS: &str = include_str!("../../static/test-page.css");
const ADMIN_HTML: &str = include_str!("../../static/admin/index.html");
const ADMIN_JS: &str = include_str!("../../static/admin/console.js");
const ADMIN_CSS: &str = include_str!("../../static/admin/console.css");
const ADMIN_ICON: &str = include_str!("../../static/admin/favicon.svg");
const DEV_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// The JWT settings when (and only when) the node minted its own development secret.
pub struct DevTokens(pub Option<JwtConfig>);

pub async fn index() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(INDEX_HTML)
}

pub async fn herald_js() -> HttpResponse {
    HttpResponse::Ok().content_type("text/javascript; charset=utf-8").body(HERALD_JS)
}

pub async fn test_page_js() -> HttpResponse {
    HttpResponse::Ok().content_type("text/javascript; charset=utf-8").body(TEST_PAGE_JS)
}

pub async fn test_page_css() -> HttpResponse {
    HttpResponse::Ok().content_type("text/css; charset=utf-8").body(TEST_PAGE_CSS)
}

/// The admin console (`/admin/`): a page, its script and its style, for staff tokens pasted in.
pub async fn admin_index() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(ADMIN_HTML)
}

pub async fn admin_js() -> HttpResponse {
    HttpResponse::Ok().content_type("text/javascript; charset=utf-8").body(ADMIN_JS)
}

pub async fn admin_css() -> HttpResponse {
    HttpResponse::Ok().content_type("text/css; charset=utf-8").body(ADMIN_CSS)
}

pub async fn admin_icon() -> HttpResponse {
    HttpResponse::Ok().content_type("image/svg+xml").body(ADMIN_ICON)
}

/// `GET /dev/token?user=1&staff=true` → `{"token": "...", "user_id": 1, "staff": true}`.
/// 404 unless `from_this_machine`.
pub async fn dev_token(req: HttpRequest, dev: web::Data<DevTokens>) -> Result<HttpResponse, ApiError> {
    let Some(jwt) = &dev.0 else { return Err(ApiError::NotFound) };
    if !from_this_machine(&req) {
        return Err(ApiError::NotFound);
    }
    let query = QueryString::parse(req.query_string())?;
    let param = |name: &str| query.first(name);
    let user = match param("user") {
        None => UserId::new(1).ok_or_else(|| ApiError::internal("user id"))?,
        Some(raw) => UserId::parse_str(raw).ok_or_else(|| ApiError::validation("user", UserId::INVALID))?,
    };
    let staff = matches!(param("staff"), Some("true" | "1"));
    let token = mint_token(jwt, user, staff, DEV_TOKEN_TTL).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "token": token, "user_id": user, "staff": staff })))
}

/// A request from a process on this machine that addressed the node by a loopback name: the peer
/// is a loopback address, `Host` is `localhost`, `127.0.0.1` or `[::1]` (any port) and no proxy
/// header (`Forwarded`, `X-Forwarded-For`) says it came from elsewhere. A page on another site
/// reaches a loopback node by DNS rebinding with its own name in `Host`, and a proxy on this
/// machine makes every peer loopback: neither gets a token.
fn from_this_machine(req: &HttpRequest) -> bool {
    use actix_web::http::header::{FORWARDED, HOST, X_FORWARDED_FOR};
    let headers = req.headers();
    let peer_is_loopback = req.peer_addr().is_some_and(|peer| peer.ip().to_canonical().is_loopback());
    let proxied = headers.contains_key(FORWARDED) || headers.contains_key(X_FORWARDED_FOR);
    let mut hosts = headers.get_all(HOST);
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().ok(),
        _ => None,
    };
    peer_is_loopback && !proxied && host.is_some_and(is_loopback_host)
}

/// `localhost`, `127.0.0.1` or `[::1]`, optionally with a port.
fn is_loopback_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && !host.ends_with(']') => (name, Some(port)),
        _ => (host, None),
    };
    let port_ok =
        port.is_none_or(|port| !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()));
    port_ok && (name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "[::1]")
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn only_loopback_names_with_an_optional_port_are_loopback_hosts() {
        for host in ["localhost", "LocalHost:8000", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:65535"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "attacker.test",
            "attacker.test:8000",
            "localhost.attacker.test",
            "127.0.0.1.nip.io",
            "127.0.0.2",
            "[::1",
            "::1",
            "[::2]:80",
            "localhost:",
            "localhost:80:80",
            "localhost:http",
            "127.0.0.1:123456",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
