//! Per-user, per-type delivery preferences (default all on) and the partial update of SPEC §4.

use super::invalid::Invalid;
use super::notification_type::NotificationType;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Preference {
    /// Off: notifications of this type are not stored at all.
    pub enabled: bool,
    /// Off: stored and counted, but not pushed live.
    pub realtime: bool,
}

impl Default for Preference {
    fn default() -> Self {
        Preference { enabled: true, realtime: true }
    }
}

/// All eight types, each with its preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences(pub BTreeMap<NotificationType, Preference>);

impl Preferences {
    /// Defaults for every type, overridden by the stored rows.
    pub fn from_stored(stored: impl IntoIterator<Item = (NotificationType, Preference)>) -> Self {
        let mut all: BTreeMap<_, _> = NotificationType::ALL.into_iter().map(|t| (t, Preference::default())).collect();
        all.extend(stored);
        Preferences(all)
    }

    pub fn get(&self, kind: NotificationType) -> Preference {
        self.0.get(&kind).copied().unwrap_or_default()
    }
}

impl Serialize for Preferences {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (kind, pref) in &self.0 {
            map.serialize_entry(kind.as_str(), pref)?;
        }
        map.end()
    }
}

/// The OpenAPI schema (`PreferenceMap`): every type, each with its `Preference`.
impl utoipa::PartialSchema for Preferences {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
        let mut map = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
        for kind in NotificationType::ALL {
            map = map.property(kind.as_str(), Preference::schema()).required(kind.as_str());
        }
        map.into()
    }
}

impl utoipa::ToSchema for Preferences {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("PreferenceMap")
    }
}

/// The fields a PUT changes, per type; absent fields keep their value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PreferenceChange {
    pub enabled: Option<bool>,
    pub realtime: Option<bool>,
}

impl PreferenceChange {
    pub fn apply(self, current: Preference) -> Preference {
        Preference {
            enabled: self.enabled.unwrap_or(current.enabled),
            realtime: self.realtime.unwrap_or(current.realtime),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PreferencesPatch(pub BTreeMap<NotificationType, PreferenceChange>);

impl PreferencesPatch {
    /// Parses `{"preferences": {"meeting": {"realtime": false}, …}}`. Anything unknown or
    /// mistyped is refused as a whole, so a bad PUT changes nothing.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, Invalid> {
        let entries = match body.get("preferences") {
            Some(Value::Object(entries)) => entries,
            None => return Err(Invalid::new("preferences", "is required")),
            Some(_) => return Err(Invalid::new("preferences", "must be an object keyed by notification type")),
        };
        let mut patch = BTreeMap::new();
        for (name, entry) in entries {
            let kind = NotificationType::parse(name)
                .ok_or_else(|| Invalid::new("preferences", format!("unknown notification type {name:?}")))?;
            let Value::Object(fields) = entry else {
                return Err(Invalid::new("preferences", format!("{name} must be an object")));
            };
            let mut change = PreferenceChange::default();
            for (field, value) in fields {
                let Value::Bool(flag) = value else {
                    return Err(Invalid::new("preferences", format!("{name}.{field} must be a boolean")));
                };
                match field.as_str() {
                    "enabled" => change.enabled = Some(*flag),
                    "realtime" => change.realtime = Some(*flag),
                    _ => return Err(Invalid::new("preferences", format!("{name}.{field} is not a preference"))),
                }
            }
            patch.insert(kind, change);
        }
        Ok(PreferencesPatch(patch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<PreferencesPatch, Invalid> {
        PreferencesPatch::parse(v.as_object().expect("object"))
    }

    #[test]
    fn partial_patch_changes_only_named_fields() {
        let patch = parse(json!({"preferences": {"meeting": {"realtime": false}}})).expect("valid");
        let change = patch.0[&NotificationType::Meeting];
        assert_eq!(change.apply(Preference::default()), Preference { enabled: true, realtime: false });
    }

    #[test]
    fn unknown_types_fields_and_non_booleans_are_refused() {
        for bad in [
            json!({}),
            json!({"preferences": []}),
            json!({"preferences": {"alert": {"enabled": false}}}),
            json!({"preferences": {"meeting": true}}),
            json!({"preferences": {"meeting": {"enabled": "no"}}}),
            json!({"preferences": {"meeting": {"email": false}}}),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn serialized_preferences_name_all_eight_types() {
        let value = serde_json::to_value(Preferences::from_stored([])).expect("json");
        assert_eq!(value.as_object().expect("map").len(), 8);
        assert_eq!(value["general"], json!({"enabled": true, "realtime": true}));
    }
}
