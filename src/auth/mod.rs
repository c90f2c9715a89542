//! Identity and permissions (SPEC §2): who the caller is (`Principal`, from a verified JWT) and
//! what they may do. The `Principal` extractor reads `Authorization: Bearer <token>`.

pub mod jwt;
pub mod mint;

use crate::domain::UserId;
use crate::error::ApiError;
use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use std::future::{ready, Ready};

pub use jwt::TokenVerifier;

/// The verified caller of a request or owner of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    /// `is_staff: true` or the `notifications:send` scope: may create for others and broadcast.
    pub can_send: bool,
    /// `exp` of the token, seconds since the Unix epoch.
    pub expires_at: i64,
}

impl Principal {
    /// Anyone may notify themselves; notifying others needs the send permission.
    pub fn ensure_may_notify(&self, recipient: UserId) -> Result<(), ApiError> {
        if recipient == self.user_id || self.can_send {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "creating notifications for other users needs is_staff or the notifications:send scope",
            ))
        }
    }

    pub fn ensure_may_broadcast(&self) -> Result<(), ApiError> {
        if self.can_send {
            Ok(())
        } else {
            Err(ApiError::Forbidden("broadcasting needs is_staff or the notifications:send scope"))
        }
    }
}

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
        ready(authenticate(req).and_then(|caller| caller.ensure_may_broadcast().map(|()| Broadcaster(caller))))
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
