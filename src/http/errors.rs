//! The error responses the REST operations document, one per status: each is the `ApiError`
//! envelope (`crate::error::Envelope`, the schema `Error`) with the headers that status carries.

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{PartialSchema, ToResponse};

/// A response whose body is the error envelope, with `headers` (name, header).
fn error_response(description: &str, headers: Vec<(&str, Header)>) -> RefOr<Response> {
    let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build();
    let mut response = ResponseBuilder::new().description(description).content("application/json", body);
    for (name, header) in headers {
        response = response.header(name, header);
    }
    response.build().into()
}

fn header(schema: RefOr<utoipa::openapi::Schema>, description: &str) -> Header {
    HeaderBuilder::new().schema(Some(schema)).description(Some(description)).build()
}

pub struct BadRequest;

impl<'s> ToResponse<'s> for BadRequest {
    fn response() -> (&'s str, RefOr<Response>) {
        ("BadRequest", error_response("`invalid_json` (the body is not a JSON object) or `validation_error` (a field, query\nparameter or header breaks a rule; `field` names it).", vec![]))
    }
}

pub struct Unauthorized;

impl<'s> ToResponse<'s> for Unauthorized {
    fn response() -> (&'s str, RefOr<Response>) {
        (
            "Unauthorized",
            error_response(
                "`unauthorized`: the bearer token is missing, invalid or expired.",
                vec![("WWW-Authenticate", header(String::schema(), "`Bearer`"))],
            ),
        )
    }
}

pub struct Forbidden;

impl<'s> ToResponse<'s> for Forbidden {
    fn response() -> (&'s str, RefOr<Response>) {
        ("Forbidden", error_response("`forbidden`: creating for another user, or broadcasting, without `is_staff` or the\n`notifications:send` scope; the admin API without `is_staff` or the `notifications:admin` scope.", vec![]))
    }
}

pub struct NotFound;

impl<'s> ToResponse<'s> for NotFound {
    fn response() -> (&'s str, RefOr<Response>) {
        ("NotFound", error_response("`not_found`: the notification does not exist or is not the caller's.", vec![]))
    }
}

pub struct MethodNotAllowed;

impl<'s> ToResponse<'s> for MethodNotAllowed {
    fn response() -> (&'s str, RefOr<Response>) {
        (
            "MethodNotAllowed",
            error_response(
                "`method_not_allowed`: the path does not answer this method.",
                vec![("Allow", header(String::schema(), "The methods the path answers"))],
            ),
        )
    }
}

pub struct PayloadTooLarge;

impl<'s> ToResponse<'s> for PayloadTooLarge {
    fn response() -> (&'s str, RefOr<Response>) {
        ("PayloadTooLarge", error_response("`payload_too_large`: the body is over `HERALD_MAX_BODY_BYTES` (64 KiB; broadcast:\n`HERALD_MAX_BROADCAST_BODY_BYTES`, 1 MiB).", vec![]))
    }
}

pub struct UnsupportedMediaType;

impl<'s> ToResponse<'s> for UnsupportedMediaType {
    fn response() -> (&'s str, RefOr<Response>) {
        (
            "UnsupportedMediaType",
            error_response(
                "`unsupported_media_type`: the body is not sent as `Content-Type: application/json`.",
                vec![],
            ),
        )
    }
}

pub struct IdempotencyKeyReused;

impl<'s> ToResponse<'s> for IdempotencyKeyReused {
    fn response() -> (&'s str, RefOr<Response>) {
        (
            "IdempotencyKeyReused",
            error_response(
                "`idempotency_key_reused`: this `Idempotency-Key` was used in the last 24 hours with a\ndifferent \
                 request (recipients or content); nothing was done. Use a new key for a new request.",
                vec![],
            ),
        )
    }
}

pub struct RateLimited;

impl<'s> ToResponse<'s> for RateLimited {
    fn response() -> (&'s str, RefOr<Response>) {
        (
            "RateLimited",
            error_response(
                "`rate_limited`: the caller's budget is spent. End users: `HERALD_RATE_LIMIT_PER_SECOND`\nunits, shared with their WebSocket frames (a read costs 1, a change or replay 2). Service\ntokens: `HERALD_SERVICE_RATE_LIMIT_PER_SECOND` notifications written (a broadcast costs one\nper recipient).",
                vec![("Retry-After", header(u64::schema(), "Seconds to wait"))],
            ),
        )
    }
}

pub struct InboxFull;

impl<'s> ToResponse<'s> for InboxFull {
    fn response() -> (&'s str, RefOr<Response>) {
        ("InboxFull", error_response("`inbox_full`: the recipient's inbox holds `HERALD_MAX_STORED_PER_USER` notifications, all\nunread, so nothing was stored (read ones are deleted oldest first to make room; unread ones\nnever are); retry once some are read or deleted (an `Idempotency-Key` is not used up by\nit). Or `rate_limited`, with `Retry-After`: the end user sent more than\n`HERALD_RATE_LIMIT_PER_SECOND`.", vec![("Retry-After", header(u64::schema(), "Seconds to wait (`rate_limited` only)"))]))
    }
}

pub struct Unavailable;

impl<'s> ToResponse<'s> for Unavailable {
    fn response() -> (&'s str, RefOr<Response>) {
        ("Unavailable", error_response("`unavailable`: the database cannot be reached or did not answer in time; nothing was\nhalf-written. Retry (creates with an `Idempotency-Key`).", vec![("Retry-After", header(u64::schema(), "Seconds to wait"))]))
    }
}
