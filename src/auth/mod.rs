//! Authentication (SPEC §2): verifying a JWT into a `crate::domain::Principal` (who the caller
//! is; the permission rules are the domain's), minting tokens, and the actix extractors that
//! read `Authorization: Bearer <token>` (`Principal`, `Broadcaster` for broadcast and
//! `Administrator` for the admin console).

pub mod jwks;
pub mod jwt;
pub mod mint;

use crate::domain::Principal;
use crate::error::ApiError;
use crate::limits::budget::{Action, Budgets};
use actix_web::{dev::Payload, http::header, http::Method, web, FromRequest, HttpRequest};
use futures_util::future::{Either, LocalBoxFuture};
use std::future::{ready, Ready};

pub use jwt::{Refusal, TokenVerifier};

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
    type Future = Authenticated<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Broadcasters are services: what they write is charged by the handler, per recipient.
        let admit = |caller: Principal| {
            caller.ensure_may_broadcast().map_err(ApiError::from)?;
            Ok(Broadcaster(caller))
        };
        match verify(req) {
            Either::Left(verified) => Either::Left(ready(verified.into_inner().and_then(admit))),
            Either::Right(verifying) => Either::Right(Box::pin(async move { verifying.await.and_then(admit) })),
        }
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
        let verified = verify(req);
        let budgets = req.app_data::<web::Data<Budgets>>().cloned();
        let action = action_of(req);
        Box::pin(async move {
            let admin = verified.await?;
            admin.ensure_may_administer()?;
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
    let budgets = req.app_data::<web::Data<Budgets>>().cloned();
    let action = action_of(req);
    let principal = match verify(req) {
        Either::Left(verified) => match verified.into_inner() {
            Ok(principal) => principal,
            Err(err) => return Either::Left(ready(Err(err))),
        },
        Either::Right(verifying) => {
            return Either::Right(Box::pin(async move {
                let principal = verifying.await?;
                match budgets {
                    Some(budgets) => budgets.admit(&principal, action).await.map(|()| principal),
                    None => Ok(principal),
                }
            }))
        }
    };
    let Some(budgets) = budgets else { return Either::Left(ready(Ok(principal))) };
    if !budgets.is_cluster_wide_for(&principal) {
        return Either::Left(ready(budgets.admit_here(&principal, action).map(|()| principal)));
    }
    Either::Right(Box::pin(async move { budgets.admit(&principal, action).await.map(|()| principal) }))
}

/// The bearer token verified: at once with the keys at hand, or, when it names a key not
/// cached (a JWKS rotated), after the key set is fetched again (`TokenVerifier::verify`).
fn verify(req: &HttpRequest) -> Authenticated<Principal> {
    let Some(verifier) = req.app_data::<web::Data<TokenVerifier>>() else {
        return Either::Left(ready(Err(ApiError::Internal("TokenVerifier missing from app data".into()))));
    };
    let Some(token) = bearer_token(req) else {
        return Either::Left(ready(Err(ApiError::Unauthorized("missing bearer token"))));
    };
    match verifier.check(token) {
        Ok(principal) => Either::Left(ready(Ok(principal))),
        Err(Refusal::UnknownKey) => {
            let (verifier, token) = (verifier.clone(), token.to_owned());
            Either::Right(Box::pin(async move { verifier.verify(&token).await }))
        }
        Err(refusal) => Either::Left(ready(Err(refusal.into_error()))),
    }
}
