//! A notification to be created, parsed from a request body into validated fields (SPEC §3).
//! REST create, REST broadcast and the WebSocket `send_notification` frame all parse through here.

use super::ids::UserId;
use super::invalid::Invalid;
use super::notification_type::{NotificationType, TypeCatalog};
use serde_json::{Map, Value};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_MESSAGE_CHARS: usize = 5000;
pub const MAX_DATA_BYTES: usize = 16 * 1024;
pub const MAX_LINK_CHARS: usize = 2048;

/// What a notification says, independent of its recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationContent {
    pub kind: NotificationType,
    /// Trimmed, 1..=200 characters.
    pub title: String,
    pub message: String,
    /// A JSON object, serialized (at most 16 KiB).
    pub data: String,
    /// An absolute http(s) URL without user-info, normalized by the `url` crate.
    pub link: Option<String>,
}

/// One notification for one recipient, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub recipient: UserId,
    pub sender: Option<UserId>,
    pub content: NotificationContent,
}

impl NewNotification {
    /// Parses a create body against the configured `types`. `user_id` defaults to the caller.
    pub fn parse(body: &Map<String, Value>, caller: UserId, types: &TypeCatalog) -> Result<Self, Invalid> {
        let recipient = match body.get("user_id") {
            None | Some(Value::Null) => caller,
            Some(value) => UserId::from_json(value).ok_or_else(|| Invalid::new("user_id", UserId::INVALID))?,
        };
        Ok(NewNotification { recipient, sender: Some(caller), content: NotificationContent::parse(body, types)? })
    }
}

impl NewNotification {
    /// The request in a canonical form (what `records::request_hash` fingerprints): every field
    /// as parsed, so bodies that differ only in spelling give the same form.
    pub fn canonical(&self) -> Value {
        serde_json::json!({"recipient": self.recipient.get(), "content": self.content.canonical()})
    }
}

impl NotificationContent {
    /// The content in a canonical form (see `NewNotification::canonical`); `data` is the
    /// serialized object, its keys sorted.
    pub fn canonical(&self) -> Value {
        serde_json::json!({
            "type": self.kind.as_str(),
            "title": self.title,
            "message": self.message,
            "data": self.data,
            "link": self.link,
        })
    }

    pub fn parse(body: &Map<String, Value>, types: &TypeCatalog) -> Result<Self, Invalid> {
        let kind = parse_kind(body, types)?;
        let title = match body.get("title") {
            Some(Value::String(raw)) => raw.trim().to_owned(),
            None | Some(Value::Null) => return Err(Invalid::new("title", "is required")),
            Some(_) => return Err(Invalid::new("title", "must be a string")),
        };
        refuse_nul("title", &title)?;
        let title_chars = title.chars().count();
        if title_chars == 0 {
            return Err(Invalid::new("title", "must not be blank"));
        }
        if title_chars > MAX_TITLE_CHARS {
            return Err(Invalid::new("title", format!("must be at most {MAX_TITLE_CHARS} characters")));
        }
        let message = match body.get("message") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(raw)) => raw.clone(),
            Some(_) => return Err(Invalid::new("message", "must be a string")),
        };
        refuse_nul("message", &message)?;
        if message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(Invalid::new("message", format!("must be at most {MAX_MESSAGE_CHARS} characters")));
        }
        let mut data = match body.get("data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err(Invalid::new("data", "must be a JSON object")),
        };
        fold_approval_fields(body, &mut data)?;
        // A map of JSON values always serializes (its keys are strings).
        let data = Value::Object(data).to_string();
        if data.len() > MAX_DATA_BYTES {
            return Err(Invalid::new("data", format!("must be at most {MAX_DATA_BYTES} bytes serialized")));
        }
        let link = match body.get("link") {
            None | Some(Value::Null) => None,
            Some(Value::String(raw)) => Some(parse_link(raw)?),
            Some(_) => return Err(Invalid::new("link", "must be a string or null")),
        };
        Ok(NotificationContent { kind, title, message, data, link })
    }
}

/// `type` (the original's REST name) or `notification_type`, one of the configured `types`;
/// default `general` (refused like any other when it is not configured).
pub fn parse_kind(body: &Map<String, Value>, types: &TypeCatalog) -> Result<NotificationType, Invalid> {
    let mut kind = None;
    for field in ["notification_type", "type"] {
        let parsed = match body.get(field) {
            None | Some(Value::Null) => continue,
            Some(Value::String(raw)) => types.parse_type(field, raw)?,
            Some(_) => return Err(Invalid::new(field, "must be a string")),
        };
        match kind {
            Some(earlier) if earlier != parsed => {
                return Err(Invalid::new("type", "type and notification_type disagree"));
            }
            _ => kind = Some(parsed),
        }
    }
    match kind {
        Some(kind) => Ok(kind),
        None => types.parse_type("notification_type", NotificationType::DEFAULT),
    }
}

/// The original's approval notifications pass `form_type`, `item_id` and `approved` at the top
/// level; they are stored inside `data`.
fn fold_approval_fields(body: &Map<String, Value>, data: &mut Map<String, Value>) -> Result<(), Invalid> {
    type Check = (&'static str, fn(&Value) -> bool, &'static str);
    let checks: [Check; 3] = [
        ("form_type", Value::is_string, "must be a string"),
        ("item_id", |v| v.is_string() || v.is_i64() || v.is_u64(), "must be an integer or a string"),
        ("approved", Value::is_boolean, "must be a boolean"),
    ];
    for (field, valid, why) in checks {
        match body.get(field) {
            None | Some(Value::Null) => {}
            Some(value) if valid(value) => {
                data.insert(field.to_owned(), value.clone());
            }
            Some(_) => return Err(Invalid::new(field, why)),
        }
    }
    Ok(())
}

/// U+0000 cannot be stored in PostgreSQL text; refuse it on every backend alike.
fn refuse_nul(field: &'static str, text: &str) -> Result<(), Invalid> {
    if text.contains('\0') {
        return Err(Invalid::new(field, "must not contain NUL (U+0000) characters"));
    }
    Ok(())
}

/// An absolute http(s) URL without user-info, stored as `url` normalizes it (percent-encoded,
/// lowercase scheme and host): what clients get back is always a well-formed URL, never the
/// characters as typed (a `"` or `<` cannot break out of an attribute that shows it).
fn parse_link(raw: &str) -> Result<String, Invalid> {
    let link = raw.trim();
    refuse_nul("link", link)?;
    let too_long = || Invalid::new("link", format!("must be at most {MAX_LINK_CHARS} characters"));
    if link.chars().count() > MAX_LINK_CHARS {
        return Err(too_long());
    }
    let parsed = url::Url::parse(link).map_err(|_| Invalid::new("link", "must be an absolute http(s) URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(Invalid::new("link", "must be an absolute http(s) URL"));
    }
    // `https://bank.test@evil.test/` reads as bank.test and leads to evil.test.
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Invalid::new("link", "must not contain a user name or password (`user@`)"));
    }
    // The limit is on the link as sent (the documented `maxLength`); its stored form may be longer
    // (percent-encoding, a trailing `/`), bounded by the body limit.
    Ok(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<NewNotification, Invalid> {
        let map = body.as_object().cloned().expect("object");
        NewNotification::parse(&map, UserId::new(1).expect("id"), &TypeCatalog::default())
    }

    fn field_of(body: Value) -> &'static str {
        parse(body).expect_err("invalid").field
    }

    #[test]
    fn defaults_fill_in_recipient_type_message_and_data() {
        let n = parse(json!({"title": "  Hi  "})).expect("valid");
        assert_eq!(n.recipient.get(), 1);
        assert_eq!(n.content.title, "Hi");
        assert_eq!(Some(n.content.kind), NotificationType::parse("general"));
        assert_eq!(n.content.message, "");
        assert_eq!(n.content.data, "{}");
        assert_eq!(n.content.link, None);
    }

    #[test]
    fn title_limits_are_counted_in_characters_after_trimming() {
        assert!(parse(json!({"title": "é".repeat(200)})).is_ok());
        assert_eq!(field_of(json!({"title": "é".repeat(201)})), "title");
        assert_eq!(field_of(json!({"title": "   "})), "title");
        assert_eq!(field_of(json!({})), "title");
        assert_eq!(field_of(json!({"title": 5})), "title");
    }

    #[test]
    fn message_data_and_link_limits() {
        assert!(parse(json!({"title": "t", "message": "m".repeat(5000)})).is_ok());
        assert_eq!(field_of(json!({"title": "t", "message": "m".repeat(5001)})), "message");
        assert_eq!(field_of(json!({"title": "t", "data": [1]})), "data");
        assert_eq!(field_of(json!({"title": "t", "data": "x"})), "data");
        let filler = |n: usize| json!({"title": "t", "data": {"k": "x".repeat(n)}});
        // {"k":"…"} is 8 bytes of framing.
        assert!(parse(filler(MAX_DATA_BYTES - 8)).is_ok());
        assert_eq!(field_of(filler(MAX_DATA_BYTES - 7)), "data");
        let long_link = format!("https://e.com/{}", "a".repeat(MAX_LINK_CHARS - 14));
        assert!(parse(json!({"title": "t", "link": long_link})).is_ok());
        assert_eq!(field_of(json!({"title": "t", "link": format!("{long_link}a")})), "link");
        assert_eq!(field_of(json!({"title": "a\u{0}b"})), "title");
        assert_eq!(field_of(json!({"title": "t", "message": "\u{0}"})), "message");
        for bad in ["/relative", "https://e.com/\u{0}", "ftp://e.com/x", "javascript:alert(1)", "https://", "e.com"] {
            assert_eq!(field_of(json!({"title": "t", "link": bad})), "link", "{bad}");
        }
    }

    #[test]
    fn links_are_stored_normalized_and_refused_with_user_info() {
        let link = |raw: &str| parse(json!({"title": "t", "link": raw})).map(|n| n.content.link);
        assert_eq!(
            link("https://x.test/\"><img src=x onerror=alert(1)>").expect("valid"),
            Some("https://x.test/%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E".to_owned())
        );
        assert_eq!(link(" HTTPS://Example.COM ").expect("valid"), Some("https://example.com/".to_owned()));
        for bad in ["https://bank.test@evil.test/", "https://user:pw@e.com/", "http://:pw@e.com/"] {
            assert_eq!(field_of(json!({"title": "t", "link": bad})), "link", "{bad}");
        }
        // The limit is on the link as sent: percent-encoding may lengthen what is stored.
        let quotes = format!("https://e.com/{}", "\"".repeat(MAX_LINK_CHARS - 14));
        let stored = link(&quotes).expect("2048 characters as sent");
        assert_eq!(stored, Some(format!("https://e.com/{}", "%22".repeat(MAX_LINK_CHARS - 14))));
        let bare_host = format!("https://{}", "a".repeat(MAX_LINK_CHARS - 8));
        let stored = link(&bare_host).expect("2048 characters as sent").expect("a link");
        assert_eq!(stored.len(), MAX_LINK_CHARS + 1, "a `/` added");
    }

    #[test]
    fn type_may_be_named_either_way() {
        let n = parse(json!({"title": "t", "type": "meeting"})).expect("valid");
        assert_eq!(Some(n.content.kind), NotificationType::parse("meeting"));
        let n = parse(json!({"title": "t", "notification_type": "mom_created"})).expect("valid");
        assert_eq!(Some(n.content.kind), NotificationType::parse("mom_created"));
        assert_eq!(field_of(json!({"title": "t", "type": "alert"})), "type");
        assert_eq!(field_of(json!({"title": "t", "type": "meeting", "notification_type": "general"})), "type");
    }

    #[test]
    fn approval_fields_are_folded_into_data() {
        let n = parse(json!({"title": "t", "type": "approval", "form_type": "leave", "item_id": 9, "approved": true, "data": {"x": 1}}))
            .expect("valid");
        let data: Value = serde_json::from_str(&n.content.data).expect("json");
        assert_eq!(data, json!({"x": 1, "form_type": "leave", "item_id": 9, "approved": true}));
        assert_eq!(field_of(json!({"title": "t", "approved": "yes"})), "approved");
    }

    #[test]
    fn user_id_must_be_a_positive_id() {
        assert_eq!(parse(json!({"title": "t", "user_id": "5"})).expect("valid").recipient.get(), 5);
        assert_eq!(field_of(json!({"title": "t", "user_id": 0})), "user_id");
        assert_eq!(field_of(json!({"title": "t", "user_id": "abc"})), "user_id");
    }
}
