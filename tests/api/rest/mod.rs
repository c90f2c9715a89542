//! The REST API of SPEC §4 end to end: endpoints, auth, validation and the OpenAPI document.

mod auth;
mod notifications;
mod openapi;
mod security_headers;
mod validation;
