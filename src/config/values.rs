//! Parsers for the kinds of values variables hold (counts, durations, switches, addresses,
//! lists), each refusing with a `BadValue` that says what was expected. Which variable holds
//! which kind is `Config::from_lookup`'s business.

use crate::domain::StorageCap;
use std::net::SocketAddr;
use std::time::Duration;

/// Why a value is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadValue {
    #[error("expected a non-negative integer")]
    NotAnInteger,
    #[error("must be greater than 0")]
    Zero,
    #[error("too large")]
    TooLarge,
    #[error("at most {max} ({meaning})")]
    AboveMax { max: u64, meaning: &'static str },
    #[error("expected true or false")]
    NotABool,
    #[error("expected host:port, e.g. {example}")]
    NotAnAddress { example: &'static str },
}

pub fn non_negative(raw: &str) -> Result<u64, BadValue> {
    raw.parse::<u64>().map_err(|_| BadValue::NotAnInteger)
}

/// A count above zero, in the type the setting is kept in.
pub fn positive<T: TryFrom<u64>>(raw: &str) -> Result<T, BadValue> {
    match non_negative(raw)? {
        0 => Err(BadValue::Zero),
        n => T::try_from(n).map_err(|_| BadValue::TooLarge),
    }
}

/// A per-user storage cap: notifications, above zero.
pub fn storage_cap(raw: &str) -> Result<StorageCap, BadValue> {
    positive::<i64>(raw).and_then(|max| StorageCap::new(max).ok_or(BadValue::Zero))
}

pub fn seconds(raw: &str) -> Result<Duration, BadValue> {
    non_negative(raw).map(Duration::from_secs)
}

pub fn positive_seconds(raw: &str) -> Result<Duration, BadValue> {
    positive(raw).map(Duration::from_secs)
}

pub fn positive_millis(raw: &str) -> Result<Duration, BadValue> {
    positive(raw).map(Duration::from_millis)
}

pub fn positive_days(raw: &str) -> Result<Duration, BadValue> {
    positive::<u64>(raw).map(|days| Duration::from_secs(days * 86_400))
}

/// Microseconds, at most one second.
pub fn micros_to_a_second(raw: &str) -> Result<Duration, BadValue> {
    match non_negative(raw)? {
        us if us <= 1_000_000 => Ok(Duration::from_micros(us)),
        _ => Err(BadValue::AboveMax { max: 1_000_000, meaning: "1 s" }),
    }
}

pub fn switch(raw: &str) -> Result<bool, BadValue> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(BadValue::NotABool),
    }
}

/// A `host:port` parser whose refusal shows `example`.
pub fn address(example: &'static str) -> impl Fn(&str) -> Result<SocketAddr, BadValue> {
    move |raw| raw.parse().map_err(|_| BadValue::NotAnAddress { example })
}

/// Comma-separated browser origins, without trailing slashes; empty items dropped.
pub fn origins(raw: &str) -> Vec<String> {
    raw.split(',').map(|o| o.trim().trim_end_matches('/').to_owned()).filter(|o| !o.is_empty()).collect()
}
