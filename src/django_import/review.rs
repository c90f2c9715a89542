//! What the import makes of one source row. Herald keeps what the original stored: a row its
//! rules for a new notification would refuse (an unknown type, a title over 200 characters, a
//! malformed link, a message over the limit) is imported as it is and remarked in the report;
//! `data` that is not a JSON object is kept under `{"django_data": …}` (Herald's `data` is an
//! object), remarked. Only a row Herald cannot hold at all is skipped and reported: a user id
//! below 1, or a creation time that is no timestamp.

use crate::db::django::DjangoNotification;
use crate::db::import::ImportedNotification;
use crate::domain::{NotificationContent, TypeCatalog};
use chrono::{DateTime, NaiveDateTime, Timelike};
use serde_json::{Map, Value};

/// One source row, reviewed.
#[derive(Debug)]
pub enum Reviewed {
    /// Stored; each remark says what Herald's rules would have refused (kept as it is).
    Kept { row: ImportedNotification, remarks: Vec<String> },
    /// Not stored, and why.
    Skipped { id: i64, reason: String },
}

pub fn review(source: DjangoNotification, types: &TypeCatalog) -> Reviewed {
    if source.user_id < 1 {
        let reason = format!("user_id {} is not a user id Herald can hold (at least 1)", source.user_id);
        return Reviewed::Skipped { id: source.id, reason };
    }
    let Some(created_at) = parse_timestamp(&source.created_at) else {
        let reason = format!("created_at {:?} is not a timestamp", source.created_at);
        return Reviewed::Skipped { id: source.id, reason };
    };
    let mut remarks = Vec::new();
    let read_at = match source.read_at.as_deref().map(|raw| (raw, parse_timestamp(raw))) {
        None => None,
        Some((_, Some(at))) => Some(at),
        Some((raw, None)) => {
            remarks.push(format!("read_at {raw:?} is not a timestamp: imported without it"));
            None
        }
    };
    let data = object_data(&source.data, &mut remarks);
    if let Err(refused) = NotificationContent::parse(&as_request(&source, &data), types) {
        remarks.push(format!("kept as it is, although Herald refuses it in a new notification: {refused}"));
    }
    let row = ImportedNotification {
        id: source.id,
        user_id: source.user_id,
        sender_id: source.sender_id,
        notification_type: source.notification_type,
        title: source.title,
        message: source.message,
        data: data.to_string(),
        link: source.link,
        is_read: source.is_read != 0,
        realtime: true,
        read_at,
        created_at,
    };
    Reviewed::Kept { row, remarks }
}

/// `data` as a JSON object: as it is when it is one, else under `django_data` (remarked).
fn object_data(raw: &str, remarks: &mut Vec<String>) -> Value {
    match serde_json::from_str::<Value>(raw) {
        Ok(object @ Value::Object(_)) => object,
        Ok(other) => {
            remarks.push("data is JSON but not an object: kept as {\"django_data\": …}".to_owned());
            serde_json::json!({ "django_data": other })
        }
        Err(_) => {
            remarks.push("data is not JSON: kept as {\"django_data\": \"<the text>\"}".to_owned());
            serde_json::json!({ "django_data": raw })
        }
    }
}

/// The row as the body of a create, for Herald's own rules.
fn as_request(source: &DjangoNotification, data: &Value) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("type".into(), source.notification_type.clone().into());
    body.insert("title".into(), source.title.clone().into());
    body.insert("message".into(), source.message.clone().into());
    body.insert("data".into(), data.clone());
    if let Some(link) = &source.link {
        body.insert("link".into(), link.clone().into());
    }
    body
}

/// A timestamp as the source wrote it, as UTC to the microsecond: `2026-12-07T09:10:44.123456`,
/// a space instead of the `T`, with or without fraction, with or without an offset.
pub fn parse_timestamp(raw: &str) -> Option<NaiveDateTime> {
    let raw = raw.trim();
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok());
    let at = naive.or_else(|| {
        ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"]
            .iter()
            .find_map(|format| DateTime::parse_from_str(raw, format).ok())
            .map(|at| at.naive_utc())
    })?;
    at.with_nanosecond(at.nanosecond() / 1000 * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> DjangoNotification {
        DjangoNotification {
            id: 5,
            user_id: 7,
            sender_id: Some(1),
            notification_type: "meeting".into(),
            title: "Sync".into(),
            message: "at 10".into(),
            data: r#"{"room": 4}"#.into(),
            link: None,
            is_read: 1,
            read_at: Some("2026-01-02 03:04:05.678901".into()),
            created_at: "2026-01-02T03:04:00.5".into(),
        }
    }

    #[test]
    fn a_good_row_is_kept_without_remarks() {
        let Reviewed::Kept { row, remarks } = review(row(), &TypeCatalog::default()) else { panic!("kept") };
        assert!(remarks.is_empty(), "{remarks:?}");
        assert!(row.is_read);
        assert_eq!(row.read_at.map(|t| t.to_string()).as_deref(), Some("2026-01-02 03:04:05.678901"));
        assert_eq!(row.data, r#"{"room":4}"#);
    }

    #[test]
    fn rows_herald_would_refuse_are_kept_and_remarked_and_impossible_ones_skipped() {
        let odd = DjangoNotification {
            notification_type: "legacy".into(),
            title: "x".repeat(250),
            link: Some("not a url".into()),
            data: "[1, 2]".into(),
            ..row()
        };
        let Reviewed::Kept { row: kept, remarks } = review(odd, &TypeCatalog::default()) else { panic!("kept") };
        assert_eq!((kept.notification_type.as_str(), kept.title.len()), ("legacy", 250));
        assert_eq!(kept.data, r#"{"django_data":[1,2]}"#);
        assert_eq!(remarks.len(), 2, "{remarks:?}");
        let broken = review(DjangoNotification { data: "{oops".into(), ..row() }, &TypeCatalog::default());
        assert!(matches!(broken, Reviewed::Kept { ref row, .. } if row.data == r#"{"django_data":"{oops"}"#));
        assert!(matches!(
            review(DjangoNotification { user_id: 0, ..row() }, &TypeCatalog::default()),
            Reviewed::Skipped { id: 5, .. }
        ));
        let undated = DjangoNotification { created_at: "yesterday".into(), ..row() };
        assert!(matches!(review(undated, &TypeCatalog::default()), Reviewed::Skipped { .. }));
    }

    #[test]
    fn timestamps_are_read_in_every_form_django_writes_them() {
        for raw in ["2026-01-02 03:04:05", "2026-01-02T03:04:05.000000", "2026-01-02 04:04:05+01:00"] {
            assert_eq!(parse_timestamp(raw).map(|t| t.to_string()).as_deref(), Some("2026-01-02 03:04:05"), "{raw}");
        }
        assert_eq!(parse_timestamp("2026-01-02 03:04:05.1234567").map(|t| t.nanosecond()), Some(123_456_000));
    }
}
