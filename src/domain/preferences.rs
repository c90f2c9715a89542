//! Per-user, per-type delivery preferences (default all on) and the partial update of SPEC §4.

use super::invalid::Invalid;
use super::notification_type::{Category, NotificationType, TypeCatalog};
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

/// Every configured type, each with its preference (stored, else the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences(pub BTreeMap<NotificationType, Preference>);

impl Preferences {
    /// Defaults for every configured type, overridden by the stored rows (rows of types no
    /// longer configured are left out).
    pub fn of(types: &TypeCatalog, stored: &BTreeMap<NotificationType, Preference>) -> Self {
        Preferences(types.types().map(|kind| (kind, stored.get(&kind).copied().unwrap_or_default())).collect())
    }

    pub fn get(&self, kind: NotificationType) -> Preference {
        self.0.get(&kind).copied().unwrap_or_default()
    }

    /// Each category's preference, as its types have it: on only when on for all of them.
    pub fn by_category(&self, types: &TypeCatalog) -> BTreeMap<Category, Preference> {
        types
            .categories()
            .into_iter()
            .map(|category| {
                let members: Vec<Preference> =
                    types.types_in(category).into_iter().map(|kind| self.get(kind)).collect();
                let all = |on: fn(&Preference) -> bool| members.iter().all(on);
                (category, Preference { enabled: all(|p| p.enabled), realtime: all(|p| p.realtime) })
            })
            .collect()
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

/// The OpenAPI schema (`PreferenceMap`): every configured type (or category), each with its
/// `Preference`.
impl utoipa::PartialSchema for Preferences {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::RefOr(Preference::schema())))
            .property_names(Some(NotificationType::schema()))
            .into()
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
    /// Parses `{"preferences": {"meeting": {"realtime": false}, …}, "categories": {"billing":
    /// {"enabled": false}}}` against the configured `types` (at least one of the two maps). A
    /// category's change applies to each of its types; a type named too gets its own fields on
    /// top. Anything unknown or mistyped is refused as a whole, so a bad PUT changes nothing.
    pub fn parse(body: &Map<String, Value>, types: &TypeCatalog) -> Result<Self, Invalid> {
        let mut patch = BTreeMap::new();
        if let Some(entries) = entries(body, "categories", "category")? {
            for (name, entry) in entries {
                let category = types.parse_category("categories", name).map_err(|e| unknown(name, e))?;
                let change = PreferenceChange::parse("categories", name, entry)?;
                patch.extend(types.types_in(category).into_iter().map(|kind| (kind, change)));
            }
        }
        let named = entries(body, "preferences", "notification type")?;
        for (name, entry) in named.into_iter().flatten() {
            let kind = types.parse_type("preferences", name).map_err(|e| unknown(name, e))?;
            let change = PreferenceChange::parse("preferences", name, entry)?;
            let merged = patch.get(&kind).map_or(change, |earlier: &PreferenceChange| earlier.then(change));
            patch.insert(kind, merged);
        }
        if named.is_none() && !body.contains_key("categories") {
            return Err(Invalid::new("preferences", "is required (or categories)"));
        }
        Ok(PreferencesPatch(patch))
    }
}

/// The object under `field`, when given.
fn entries<'a>(
    body: &'a Map<String, Value>,
    field: &'static str,
    keyed_by: &str,
) -> Result<Option<&'a Map<String, Value>>, Invalid> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Object(entries)) => Ok(Some(entries)),
        Some(_) => Err(Invalid::new(field, format!("must be an object keyed by {keyed_by}"))),
    }
}

fn unknown(name: &str, refused: Invalid) -> Invalid {
    Invalid::new(refused.field, format!("unknown name {name:?}: {}", refused.message))
}

impl PreferenceChange {
    /// One entry of a preferences patch: `{"enabled"?: bool, "realtime"?: bool}`.
    fn parse(field: &'static str, name: &str, entry: &Value) -> Result<Self, Invalid> {
        let Value::Object(fields) = entry else {
            return Err(Invalid::new(field, format!("{name} must be an object")));
        };
        let mut change = PreferenceChange::default();
        for (key, value) in fields {
            let Value::Bool(flag) = value else {
                return Err(Invalid::new(field, format!("{name}.{key} must be a boolean")));
            };
            match key.as_str() {
                "enabled" => change.enabled = Some(*flag),
                "realtime" => change.realtime = Some(*flag),
                _ => return Err(Invalid::new(field, format!("{name}.{key} is not a preference"))),
            }
        }
        Ok(change)
    }

    /// This change, then `later` on top of it.
    fn then(self, later: PreferenceChange) -> PreferenceChange {
        PreferenceChange { enabled: later.enabled.or(self.enabled), realtime: later.realtime.or(self.realtime) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<PreferencesPatch, Invalid> {
        PreferencesPatch::parse(v.as_object().expect("object"), &TypeCatalog::default())
    }

    #[test]
    fn partial_patch_changes_only_named_fields() {
        let patch = parse(json!({"preferences": {"meeting": {"realtime": false}}})).expect("valid");
        let change = patch.0[&NotificationType::parse("meeting").expect("name")];
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
    fn serialized_preferences_name_every_configured_type() {
        let value = serde_json::to_value(Preferences::of(&TypeCatalog::default(), &BTreeMap::new())).expect("json");
        assert_eq!(value.as_object().expect("map").len(), 8);
        assert_eq!(value["general"], json!({"enabled": true, "realtime": true}));
    }

    #[test]
    fn a_category_change_reaches_each_of_its_types_and_a_named_type_overrides_it() {
        let types = TypeCatalog::parse("invoice.paid:billing,invoice.failed:billing,comment").expect("valid");
        let body = json!({"categories": {"billing": {"enabled": false, "realtime": false}},
                          "preferences": {"invoice.failed": {"enabled": true}}});
        let patch = PreferencesPatch::parse(body.as_object().expect("object"), &types).expect("valid");
        let kind = |name| NotificationType::parse(name).expect("name");
        assert_eq!(patch.0[&kind("invoice.paid")], PreferenceChange { enabled: Some(false), realtime: Some(false) });
        assert_eq!(patch.0[&kind("invoice.failed")], PreferenceChange { enabled: Some(true), realtime: Some(false) });
        assert!(!patch.0.contains_key(&kind("comment")));
        let current =
            Preferences::of(&types, &patch.0.iter().map(|(k, c)| (*k, c.apply(Preference::default()))).collect());
        let billing = current.by_category(&types)[&Category::parse("billing").expect("name")];
        assert_eq!(billing, Preference { enabled: false, realtime: false });
        for bad in [json!({"categories": {"marketing": {"enabled": false}}}), json!({"categories": []})] {
            assert!(PreferencesPatch::parse(bad.as_object().expect("object"), &types).is_err(), "{bad}");
        }
    }
}
