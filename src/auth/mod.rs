//! Authentication (SPEC §2): verifying a JWT into a `crate::domain::Principal` (who the caller
//! is; the permission rules are the domain's), minting tokens, and the actix extractors that
//! read `Authorization: Bearer <token>` (`Principal`, and `Broadcaster` for broadcast).

pub mod jwt;
pub mod mint;

use crate::domain::Principal;
use crate::error::ApiError;
use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use std::future::{ready, Ready};

pub use jwt::TokenVerifier;

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// A caller allowed to broadcast. As an extractor placed before the body, it refuses others
/// (401/403) before a byte of the (up to 1 MiB) body is read.
#[derive(Debug, Clone, Copy)]
pub struct Broadcaster(pub Principal);

impl FromRequest for Broadcaster {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            authenticate(req)
                .and_then(|caller| caller.ensure_may_broadcast().map(|()| Broadcaster(caller)).map_err(ApiError::from)),
        )
    }
}

fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let verifier = req
        .app_data::<web::Data<TokenVerifier>>()
        .ok_or_else(|| ApiError::Internal("TokenVerifier missing from app data".into()))?;
    let token = bearer_token(req).ok_or(ApiError::Unauthorized("missing bearer token"))?;
    let principal = verifier.verify(token)?;
    if let Some(limiter) = req.app_data::<web::Data<crate::rate_limit::RestLimiter>>() {
        limiter.admit(principal.user_id, principal.can_send)?;
    }
    Ok(principal)
}
