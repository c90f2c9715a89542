//! `Invalid`: what every parse in Herald returns when a client's value breaks a rule of SPEC §3
//! — which field, and why. The edges turn it into a 400 `validation_error` (REST) or an error
//! frame (WebSocket); nothing below them knows about HTTP.

/// A value that breaks a rule: the field it came from and a message a client may read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Invalid { field, message: message.into() }
    }
}
