//! REST input parsing (SPEC §3, §4) on arbitrary input:
//!
//! - the bytes as a JSON body: when they are a JSON object, `NewNotification::parse` (for two
//!   callers), `NotificationContent::parse` and `PreferencesPatch::parse` run on it, and what
//!   they accept must satisfy every rule of SPEC §3 (trimmed title of 1..=200 characters, message
//!   of at most 5000, `data` a JSON object of at most 16 KiB, `link` an absolute http(s) URL of
//!   at most 2048 characters, no NUL, a positive recipient), what they refuse names a field of
//!   the body, and create and content parsing agree;
//! - the bytes as the list endpoint's query string (`parse_list_query`; UTF-8 when valid, and
//!   always lossily): bounds of what is accepted (limit 1..=200, before > 0), a 400
//!   `validation_error` naming a query field for what is not, and what is accepted written back
//!   as a query string parses to the same thing.

#![no_main]

use herald::domain::{NewNotification, NotificationContent, NotificationType, PreferencesPatch, TypeCatalog, UserId};
use herald::http::parse_list_query;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    if let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) {
        check_body(&body);
    }
    match std::str::from_utf8(data) {
        Ok(text) => check_query(text),
        Err(_) => check_query(&String::from_utf8_lossy(data)),
    }
});

const BODY_FIELDS: [&str; 10] =
    ["user_id", "title", "message", "data", "link", "type", "notification_type", "form_type", "item_id", "approved"];

fn check_body(body: &Map<String, Value>) {
    let content = NotificationContent::parse(body, &TypeCatalog::default());
    match &content {
        Ok(content) => check_content(content, body),
        Err(invalid) => {
            assert!(BODY_FIELDS.contains(&invalid.field), "unknown field {:?} in {body:?}", invalid.field);
            assert!(!invalid.message.is_empty(), "{body:?}");
        }
    }
    for caller in [1, i64::MAX] {
        let caller = UserId::new(caller).expect("a positive id");
        let parsed = NewNotification::parse(body, caller, &TypeCatalog::default());
        let user_id = body.get("user_id").filter(|v| !v.is_null());
        let recipient = user_id.map(UserId::from_json);
        match (&parsed, &content, recipient) {
            // An invalid user_id is refused before the content is read.
            (Err(invalid), _, Some(None)) => assert_eq!(invalid.field, "user_id", "{body:?}"),
            (Err(invalid), Err(expected), _) => assert_eq!(invalid, expected, "{body:?}"),
            (Ok(new), Ok(expected), recipient) => {
                assert_eq!(&new.content, expected, "{body:?}");
                assert_eq!(new.sender, Some(caller), "{body:?}");
                assert_eq!(new.recipient, recipient.flatten().unwrap_or(caller), "{body:?}");
                assert!(new.recipient.get() > 0, "{body:?}");
            }
            _ => panic!("create and content parsing disagree on {body:?}: {parsed:?} / {content:?}"),
        }
    }

    match PreferencesPatch::parse(body, &TypeCatalog::default()) {
        Ok(patch) => {
            // The default catalog has no categories: only an empty `categories` object passes.
            let none = serde_json::Map::new();
            let entries = body.get("preferences").and_then(Value::as_object).unwrap_or(&none);
            assert!(body.get("categories").is_none_or(|c| c.as_object().is_some_and(|c| c.is_empty())), "{body:?}");
            assert_eq!(patch.0.len(), entries.len(), "every entry is kept: {body:?}");
            for (kind, change) in &patch.0 {
                let entry = entries[kind.as_str()].as_object().expect("an entry is an object");
                assert_eq!(change.enabled, entry.get("enabled").and_then(Value::as_bool), "{body:?}");
                assert_eq!(change.realtime, entry.get("realtime").and_then(Value::as_bool), "{body:?}");
                assert!(entry.keys().all(|k| k == "enabled" || k == "realtime"), "{body:?}");
            }
        }
        Err(invalid) => {
            assert!(matches!(invalid.field, "preferences" | "categories"), "{body:?}");
            assert!(!invalid.message.is_empty(), "{body:?}");
        }
    }
}

/// What `NotificationContent::parse` accepted keeps SPEC §3's rules.
fn check_content(content: &NotificationContent, body: &Map<String, Value>) {
    let title = &content.title;
    assert_eq!(title.trim(), title, "{body:?}");
    assert!((1..=200).contains(&title.chars().count()), "{body:?}");
    assert!(content.message.chars().count() <= 5000, "{body:?}");
    for text in [title, &content.message] {
        assert!(!text.contains('\0'), "{body:?}");
    }
    assert!(content.data.len() <= 16 * 1024, "{body:?}");
    let data: Value = serde_json::from_str(&content.data).expect("data is stored as JSON");
    let data = data.as_object().expect("data is a JSON object");
    for folded in ["form_type", "item_id", "approved"] {
        if let Some(value) = body.get(folded).filter(|v| !v.is_null()) {
            assert_eq!(data.get(folded), Some(value), "{folded} is folded into data: {body:?}");
        }
    }
    if let Some(link) = &content.link {
        assert_eq!(link.trim(), link, "{body:?}");
        assert!(link.chars().count() <= 2048 && !link.contains('\0'), "{body:?}");
        let url = url::Url::parse(link).expect("link is a URL");
        assert!(matches!(url.scheme(), "http" | "https"), "{body:?}");
        assert!(url.host_str().is_some_and(|h| !h.is_empty()), "{body:?}");
        assert!(url.username().is_empty() && url.password().is_none(), "no user-info: {body:?}");
        assert_eq!(url.as_str(), link, "stored normalized: {body:?}");
    } else {
        assert!(body.get("link").is_none_or(Value::is_null), "{body:?}");
    }
    let named: Vec<NotificationType> = ["type", "notification_type"]
        .iter()
        .filter_map(|f| body.get(*f).and_then(Value::as_str).and_then(NotificationType::parse))
        .collect();
    assert!(named.iter().all(|k| *k == content.kind), "{body:?}");
    if named.is_empty() {
        assert_eq!(content.kind.as_str(), NotificationType::DEFAULT, "{body:?}");
    }
}

fn check_query(raw: &str) {
    match parse_list_query(raw, &TypeCatalog::default()) {
        Ok(query) => {
            assert!((1..=200).contains(&query.limit), "limit {}: {raw:?}", query.limit);
            let f = &query.filter;
            assert!(f.before.is_none_or(|id| id.get() > 0), "{raw:?}");
            assert!(!(f.archived && f.snoozed), "{raw:?}");
            // Written back as a query string, it parses to the same query.
            let mut canonical = url::form_urlencoded::Serializer::new(String::new());
            canonical.append_pair("limit", &query.limit.to_string());
            for (name, value) in [("read", f.read), ("seen", f.seen)] {
                if let Some(value) = value {
                    canonical.append_pair(name, &value.to_string());
                }
            }
            canonical.append_pair("archived", &f.archived.to_string());
            canonical.append_pair("snoozed", &f.snoozed.to_string());
            if let Some(before) = f.before {
                canonical.append_pair("before", &before.to_string());
            }
            for kind in &f.kinds {
                canonical.append_pair("type", kind.as_str());
            }
            for (name, at) in [("created_after", f.created_after), ("created_before", f.created_before)] {
                if let Some(at) = at {
                    canonical.append_pair(name, &at.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string());
                }
            }
            if let Some(data) = &f.data {
                canonical.append_pair("data", data);
            }
            let canonical = canonical.finish();
            let again = parse_list_query(&canonical, &TypeCatalog::default()).expect("a canonical query parses");
            assert_eq!(again, query, "{raw:?} -> {canonical:?}");
        }
        Err(error) => {
            assert_eq!(error.code(), "validation_error", "{raw:?}");
            let field = error.field().expect("a validation error names its field");
            let fields = [
                "query",
                "limit",
                "before",
                "unread",
                "type",
                "category",
                "read",
                "seen",
                "archived",
                "snoozed",
                "created_after",
                "created_before",
                "data",
            ];
            // A contradiction names both fields, comma-separated.
            assert!(field.split(',').all(|name| fields.contains(&name)), "{field:?}: {raw:?}");
        }
    }
}
