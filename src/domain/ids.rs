//! Identifier newtypes: 64-bit signed, always > 0. Never pass a bare `i64` where one of these fits.

use serde::Serialize;
use std::fmt;

macro_rules! id_type {
    ($name:ident, $what:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Accepts a positive integer.
            pub fn new(raw: i64) -> Option<Self> {
                (raw > 0).then_some(Self(raw))
            }

            /// Accepts a JSON integer or a string of digits, as the original's clients send either.
            pub fn from_json(value: &serde_json::Value) -> Option<Self> {
                match value {
                    serde_json::Value::Number(n) => n.as_i64().and_then(Self::new),
                    serde_json::Value::String(s) => Self::parse_str(s),
                    _ => None,
                }
            }

            /// Accepts a string of ASCII digits naming a positive 64-bit integer.
            pub fn parse_str(raw: &str) -> Option<Self> {
                if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                raw.parse::<i64>().ok().and_then(Self::new)
            }

            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        #[doc = concat!("The message used when a value is not a valid ", $what, ".")]
        impl $name {
            pub const INVALID: &'static str = concat!("must be a positive 64-bit integer ", $what);
        }
    };
}

id_type!(UserId, "user id");
id_type!(NotificationId, "notification id");

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_positive_64_bit_integers_or_digit_strings() {
        assert_eq!(UserId::from_json(&json!(7)).map(UserId::get), Some(7));
        assert_eq!(UserId::from_json(&json!("42")).map(UserId::get), Some(42));
        assert_eq!(UserId::from_json(&json!(i64::MAX)).map(UserId::get), Some(i64::MAX));
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("1e3"),
            json!("-3"),
            json!(""),
            json!(null),
            json!("9223372036854775808"),
            json!(u64::MAX),
            json!(true),
        ] {
            assert_eq!(UserId::from_json(&bad), None, "{bad}");
        }
    }
}
