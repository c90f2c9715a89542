//! `InboxFilter`: which of a user's notifications a list or a bulk action covers (types and
//! category, read, seen, archived, snoozed, created before/after, below an id, `data`
//! containment), read from a query string or a frame's JSON by one parser, so REST and the
//! WebSocket accept the same names, values and errors.

use super::ids::NotificationId;
use super::invalid::Invalid;
use super::notification::MAX_DATA_BYTES;
use super::notification_type::{NotificationType, TypeCatalog};
use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Value};

/// Which notifications of one user: every field narrows; the default is the inbox as the
/// default list shows it (neither archived nor snoozed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InboxFilter {
    /// Any of these types; empty: every type.
    pub kinds: Vec<NotificationType>,
    pub read: Option<bool>,
    pub seen: Option<bool>,
    /// Only archived ones (true) or none (false, the default).
    pub archived: bool,
    /// Only snoozed ones (true) or none (false, the default).
    pub snoozed: bool,
    pub created_after: Option<NaiveDateTime>,
    pub created_before: Option<NaiveDateTime>,
    /// Ids below this one (a list's page cursor, or "everything older" in a bulk action).
    pub before: Option<NotificationId>,
    /// A JSON object the notification's `data` contains (PostgreSQL: `@>`; SQLite: each top-level
    /// key equal to a string, number or boolean), serialized.
    pub data: Option<String>,
}

/// A filter parameter as the client wrote it: text from a query string, JSON from a frame or a
/// bulk body.
#[derive(Debug, Clone, Copy)]
pub enum ListParam<'a> {
    Text(&'a str),
    Json(&'a Value),
}

/// A named parameter.
pub type Param<'a> = (&'a str, ListParam<'a>);

/// What the parser gathered before checking the fields against each other.
#[derive(Default)]
struct Gathered {
    kinds: Vec<NotificationType>,
    category: Option<Vec<NotificationType>>,
    unread: Option<bool>,
}

impl InboxFilter {
    /// Whether it is the default view with no narrowing but `read` (the counts kept in
    /// `inbox_state` answer its total).
    pub fn is_plain(&self) -> bool {
        let InboxFilter { kinds, read: _, seen, archived, snoozed, created_after, created_before, before: _, data } =
            self;
        kinds.is_empty()
            && seen.is_none()
            && !archived
            && !snoozed
            && created_after.is_none()
            && created_before.is_none()
            && data.is_none()
    }

    /// On SQLite, `data` compares top-level keys (without `"`) to strings, numbers or booleans.
    pub fn sqlite_subset(&self) -> Result<(), Invalid> {
        let Some(Ok(Value::Object(pairs))) = self.data.as_deref().map(serde_json::from_str::<Value>) else {
            return Ok(());
        };
        let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
        match pairs.iter().all(|(key, value)| !key.contains('"') && scalar(value)) {
            true => Ok(()),
            false => Err(Invalid::new(
                "data",
                "on SQLite, data filters compare top-level keys to strings, numbers or booleans",
            )),
        }
    }

    /// Reads one parameter, when it is a filter's (`true`), else leaves it (`false`).
    fn read_param(
        &mut self,
        gathered: &mut Gathered,
        (name, value): (&str, ListParam<'_>),
        types: &TypeCatalog,
    ) -> Result<bool, Invalid> {
        match name {
            "type" | "types" | "notification_type" => {
                let named = names(name, value)?;
                if named.is_empty() {
                    return Err(Invalid::new("type", "must name at least one type"));
                }
                for kind in named {
                    let kind = types.parse_type("type", kind)?;
                    if !gathered.kinds.contains(&kind) {
                        gathered.kinds.push(kind);
                    }
                }
            }
            "category" => {
                let raw = text("category", value)?;
                gathered.category = Some(types.types_in(types.parse_category("category", raw)?));
            }
            "unread" => gathered.unread = Some(boolean("unread", value)?),
            "read" => self.read = Some(boolean("read", value)?),
            "seen" => self.seen = Some(boolean("seen", value)?),
            "archived" => self.archived = boolean("archived", value)?,
            "snoozed" => self.snoozed = boolean("snoozed", value)?,
            "created_after" => self.created_after = Some(timestamp("created_after", value)?),
            "created_before" => self.created_before = Some(timestamp("created_before", value)?),
            "before" => self.before = Some(before(value)?),
            "data" => self.data = Some(data(value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks the gathered fields against each other: a contradiction names both fields.
    fn settle(mut self, gathered: Gathered) -> Result<Self, Invalid> {
        self.kinds = match gathered.category {
            None => gathered.kinds,
            Some(in_category) if gathered.kinds.is_empty() => in_category,
            Some(in_category) => {
                let both: Vec<NotificationType> =
                    gathered.kinds.into_iter().filter(|kind| in_category.contains(kind)).collect();
                if both.is_empty() {
                    return Err(Invalid::new("type,category", "no type given is in the category given"));
                }
                both
            }
        };
        match (gathered.unread, self.read) {
            (Some(true), Some(true)) => return Err(Invalid::new("unread,read", "unread=true contradicts read=true")),
            (Some(true), _) => self.read = Some(false),
            _ => {}
        }
        if self.archived && self.snoozed {
            return Err(Invalid::new("archived,snoozed", "a notification is never archived and snoozed at once"));
        }
        if (self.archived || self.snoozed) && self.read == Some(false) {
            return Err(Invalid::new("read,archived", "archived and snoozed notifications are read"));
        }
        if self.seen == Some(false) && self.read == Some(true) {
            return Err(Invalid::new("read,seen", "a read notification is seen"));
        }
        if let (Some(after), Some(before)) = (self.created_after, self.created_before) {
            if after >= before {
                return Err(Invalid::new(
                    "created_after,created_before",
                    "created_after must be before created_before",
                ));
            }
        }
        Ok(self)
    }

    /// Reads a filter from named parameters (other names are returned, in order, for the
    /// caller); a later value replaces an earlier one.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, ListParam<'a>)>,
        types: &TypeCatalog,
    ) -> Result<(InboxFilter, Vec<Param<'a>>), Invalid> {
        let (mut filter, mut gathered, mut rest) = (InboxFilter::default(), Gathered::default(), Vec::new());
        for param in params {
            if !filter.read_param(&mut gathered, param, types)? {
                rest.push(param);
            }
        }
        Ok((filter.settle(gathered)?, rest))
    }

    /// Reads a filter from a JSON object (a bulk action's `filter`); unknown names are refused.
    pub fn from_json(object: &Map<String, Value>, types: &TypeCatalog) -> Result<InboxFilter, Invalid> {
        let params = object.iter().map(|(name, value)| (name.as_str(), ListParam::Json(value)));
        let (filter, rest) = InboxFilter::parse(params, types)?;
        match rest.first() {
            Some((name, _)) => Err(Invalid::new("filter", format!("{name:?} is not a filter"))),
            None => Ok(filter),
        }
    }
}

fn text<'a>(field: &'static str, value: ListParam<'a>) -> Result<&'a str, Invalid> {
    match value {
        ListParam::Text(text) => Ok(text),
        ListParam::Json(Value::String(text)) => Ok(text),
        ListParam::Json(_) => Err(Invalid::new(field, "must be a string")),
    }
}

/// Type names: one, comma-separated, or (JSON) an array of strings.
fn names<'a>(field: &str, value: ListParam<'a>) -> Result<Vec<&'a str>, Invalid> {
    let split = |text: &'a str| text.split(',').map(str::trim).filter(|name| !name.is_empty()).collect();
    match value {
        ListParam::Text(text) => Ok(split(text)),
        ListParam::Json(Value::String(text)) => Ok(split(text)),
        ListParam::Json(Value::Array(items)) if field == "types" => items
            .iter()
            .map(|item| item.as_str().ok_or_else(|| Invalid::new("type", "must be an array of type names")))
            .collect(),
        ListParam::Json(_) => Err(Invalid::new("type", "must be a type name (types: an array of them)")),
    }
}

fn boolean(field: &'static str, value: ListParam<'_>) -> Result<bool, Invalid> {
    match value {
        ListParam::Text(text) => match text.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(Invalid::new(field, "must be true or false")),
        },
        ListParam::Json(Value::Bool(flag)) => Ok(*flag),
        ListParam::Json(_) => Err(Invalid::new(field, "must be a boolean")),
    }
}

fn timestamp(field: &'static str, value: ListParam<'_>) -> Result<NaiveDateTime, Invalid> {
    let raw = text(field, value)?;
    DateTime::parse_from_rfc3339(raw)
        .map(|at| at.naive_utc())
        .map_err(|_| Invalid::new(field, "must be an RFC 3339 timestamp, e.g. 2026-12-07T10:00:00Z"))
}

fn before(value: ListParam<'_>) -> Result<NotificationId, Invalid> {
    match value {
        ListParam::Text(text) => NotificationId::parse_str(text),
        ListParam::Json(json) => NotificationId::from_json(json),
    }
    .ok_or_else(|| Invalid::new("before", NotificationId::INVALID))
}

/// A JSON object (as text in a query string, `data={"project":42}`), serialized.
fn data(value: ListParam<'_>) -> Result<String, Invalid> {
    let bad = || Invalid::new("data", "must be a JSON object, e.g. {\"project\":42}");
    let object = match value {
        ListParam::Text(text) => serde_json::from_str::<Value>(text).map_err(|_| bad())?,
        ListParam::Json(json) => json.clone(),
    };
    let Value::Object(object) = object else { return Err(bad()) };
    let serialized = Value::Object(object).to_string();
    if serialized.len() > MAX_DATA_BYTES {
        return Err(Invalid::new("data", format!("must be at most {MAX_DATA_BYTES} bytes serialized")));
    }
    Ok(serialized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from_query(raw: &[(&'static str, &'static str)]) -> Result<InboxFilter, Invalid> {
        let types = TypeCatalog::parse("invoice.paid:billing,invoice.failed:billing,comment").expect("valid");
        InboxFilter::parse(raw.iter().map(|&(name, value)| (name, ListParam::Text(value))), &types).map(|(f, _)| f)
    }

    #[test]
    fn types_categories_and_states_narrow_and_contradictions_name_both_fields() {
        let filter = from_query(&[("types", "comment,invoice.paid"), ("seen", "false")]).expect("valid");
        assert_eq!(filter.kinds.len(), 2);
        assert_eq!(filter.seen, Some(false));
        let billing = from_query(&[("category", "billing"), ("type", "invoice.paid,comment")]).expect("valid");
        assert_eq!(billing.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(), ["invoice.paid"]);
        assert_eq!(from_query(&[("unread", "true")]).expect("valid").read, Some(false));
        assert_eq!(from_query(&[("unread", "false")]).expect("valid").read, None, "the original's unread=false");
        for (params, field) in [
            (&[("category", "billing"), ("type", "comment")][..], "type,category"),
            (&[("unread", "true"), ("read", "true")][..], "unread,read"),
            (&[("archived", "true"), ("snoozed", "true")][..], "archived,snoozed"),
            (&[("archived", "true"), ("read", "false")][..], "read,archived"),
            (
                &[("created_after", "2026-12-07T10:00:00Z"), ("created_before", "2026-12-07T09:00:00Z")][..],
                "created_after,created_before",
            ),
            (&[("type", "meeting")][..], "type"),
            (&[("category", "ops")][..], "category"),
            (&[("data", "[1]")][..], "data"),
            (&[("seen", "maybe")][..], "seen"),
        ] {
            assert_eq!(from_query(params).expect_err(field).field, field, "{params:?}");
        }
    }

    #[test]
    fn json_filters_take_arrays_and_refuse_unknown_names() {
        let types = TypeCatalog::default();
        let body = json!({"types": ["meeting", "approval"], "read": true, "before": 90, "data": {"project": 42}});
        let filter = InboxFilter::from_json(body.as_object().expect("object"), &types).expect("valid");
        assert_eq!((filter.kinds.len(), filter.read, filter.before.map(|id| id.get())), (2, Some(true), Some(90)));
        assert_eq!(filter.data.as_deref(), Some(r#"{"project":42}"#));
        let bad = json!({"colour": "red"});
        assert_eq!(
            InboxFilter::from_json(bad.as_object().expect("object"), &types).expect_err("unknown").field,
            "filter"
        );
    }
}
