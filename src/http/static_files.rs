//! The test page at `/` and the reusable JS client at `/static/herald.js`, compiled into the
//! binary (no files to deploy, works offline), and `GET /dev/token`, which mints a token only
//! while the node runs with its random development secret (404 otherwise).

use crate::auth::mint::mint_token;
use crate::config::JwtConfig;
use crate::domain::{QueryString, UserId};
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use std::time::Duration;

const INDEX_HTML: &str = include_str!("../../static/index.html");
const HERALD_JS: &str = include_str!("../../static/herald.js");
const DEV_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// The JWT settings when (and only when) the node minted its own development secret.
pub struct DevTokens(pub Option<JwtConfig>);

pub async fn index() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(INDEX_HTML)
}

pub async fn herald_js() -> HttpResponse {
    HttpResponse::Ok().content_type("text/javascript; charset=utf-8").body(HERALD_JS)
}

/// `GET /dev/token?user=1&staff=true` → `{"token": "...", "user_id": 1, "staff": true}`.
pub async fn dev_token(req: HttpRequest, dev: web::Data<DevTokens>) -> Result<HttpResponse, ApiError> {
    let Some(jwt) = &dev.0 else { return Err(ApiError::NotFound) };
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
