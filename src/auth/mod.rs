//! Authentication (SPEC §2): verifying a JWT into a `crate::domain::Principal` (who the caller
//! is; the permission rules are the domain's), minting tokens, and the actix extractors that
//! read `Authorization: Bearer <token>` (`Principal`, `Broadcaster` for broadcast and
//! `Administrator` for the admin console).

pub mod jwt;
pub mod mint;

use crate::domain::Principal;
use crate::error::ApiError;
use crate::limits::budget::{Action, Budgets};
use actix_web::{dev::Payload, http::header, http::Method, web, FromRequest, HttpRequest};
use futures_util::future::{Either, LocalBoxFuture};
use std::future::{ready, Ready};

pub use jwt::TokenVerifier;

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// An extractor's answer: at once, or after the cluster-wide rate limit asked Redis.
type Authenticated<T> = Either<Ready<Result<T, ApiError>>, LocalBoxFuture<'static, Result<T, ApiError>>>;

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Authenticated<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        authenticate(req)
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
        // Broadcasters are services: what they write is charged by the handler, per recipient.
        ready(verify(req).and_then(|caller| {
            caller.ensure_may_broadcast().map_err(ApiError::from)?;
            Ok(Broadcaster(caller))
        }))
    }
}

/// A caller allowed into the admin console (`is_staff` or the `notifications:admin` scope). As
/// an extractor placed before the body, it refuses others (401/403) before any work. Its
/// requests cost from the caller's own end-user budget, staff or not (a read 1, a change 2).
#[derive(Debug, Clone, Copy)]
pub struct Administrator(pub Principal);

impl FromRequest for Administrator {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let admitted = verify(req).and_then(|caller| {
            caller.ensure_may_administer().map_err(ApiError::from)?;
            Ok(caller)
        });
        let budgets = req.app_data::<web::Data<Budgets>>().cloned();
        let action = action_of(req);
        Box::pin(async move {
            let admin = admitted?;
            if let Some(budgets) = budgets {
                budgets.admit_staff(&admin, action).await?;
            }
            Ok(Administrator(admin))
        })
    }
}

/// What a request costs: a `GET` (or `HEAD`) is a read, any other method a write.
fn action_of(req: &HttpRequest) -> Action {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        Action::Read
    } else {
        Action::Write
    }
}

/// The caller's token, then the request's cost from their budget (cluster-wide when Redis is
/// configured): a `GET` is a read, any other method a write (`crate::limits::budget`).
fn authenticate(req: &HttpRequest) -> Authenticated<Principal> {
    let principal = match verify(req) {
        Ok(principal) => principal,
        Err(err) => return Either::Left(ready(Err(err))),
    };
    let Some(budgets) = req.app_data::<web::Data<Budgets>>() else { return Either::Left(ready(Ok(principal))) };
    let action = action_of(req);
    if !budgets.is_cluster_wide_for(&principal) {
        return Either::Left(ready(budgets.admit_here(&principal, action).map(|()| principal)));
    }
    let budgets = budgets.clone();
    Either::Right(Box::pin(async move { budgets.admit(&principal, action).await.map(|()| principal) }))
}

fn verify(req: &HttpRequest) -> Result<Principal, ApiError> {
    let verifier = req
        .app_data::<web::Data<TokenVerifier>>()
        .ok_or_else(|| ApiError::Internal("TokenVerifier missing from app data".into()))?;
    let token = bearer_token(req).ok_or(ApiError::Unauthorized("missing bearer token"))?;
    verifier.verify(token)
}
