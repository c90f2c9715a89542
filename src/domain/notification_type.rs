//! Notification types: `NotificationType`, a name (`[a-z0-9_.-]{1,50}`) held inline, and
//! `TypeCatalog`, the types a deployment accepts (`HERALD_NOTIFICATION_TYPES`; by default the
//! original's eight) with each one's optional category. A type removed from the catalog keeps its
//! stored notifications readable: only new notifications, filters and preferences are checked
//! against it.

use super::invalid::Invalid;
use arrayvec::ArrayString;
use serde::{Serialize, Serializer};

/// The longest type or category name.
pub const MAX_NAME_CHARS: usize = 50;

/// A valid type name, copied inline (no allocation per notification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NotificationType(ArrayString<MAX_NAME_CHARS>);

/// A valid category name (same rule as a type name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Category(ArrayString<MAX_NAME_CHARS>);

/// The rule a type or category name follows, as clients read it.
pub const NAME_RULE: &str = "must be 1 to 50 characters of a-z, 0-9, '_', '.' or '-'";

/// `raw`, when it follows `NAME_RULE`.
fn valid_name(raw: &str) -> Option<ArrayString<MAX_NAME_CHARS>> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-');
    (!raw.is_empty() && raw.chars().all(allowed)).then(|| ArrayString::from(raw).ok()).flatten()
}

impl NotificationType {
    /// The type a notification that names none gets.
    pub const DEFAULT: &'static str = "general";

    /// The original's eight types, the default catalog.
    pub const ORIGINAL: [&'static str; 8] = [
        "meeting",
        "meeting_response",
        "action_item",
        "general",
        "approval",
        "meeting_invitation",
        "meeting_scheduled",
        "mom_created",
    ];

    /// A name that follows `NAME_RULE`; whether it is configured is the catalog's question.
    pub fn parse(raw: &str) -> Option<Self> {
        valid_name(raw).map(NotificationType)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Category {
    pub fn parse(raw: &str) -> Option<Self> {
        valid_name(raw).map(Category)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Serialize for NotificationType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Serialize for Category {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The OpenAPI schema: a name following `NAME_RULE`; which names are accepted is configured.
impl utoipa::PartialSchema for NotificationType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some("^[a-z0-9_.-]{1,50}$"))
            .description(Some(
                "A configured notification type (`HERALD_NOTIFICATION_TYPES`; by default the original's eight: \
                 meeting, meeting_response, action_item, general, approval, meeting_invitation, meeting_scheduled, \
                 mom_created). An unconfigured one is refused with the allowed list.",
            ))
            .examples([serde_json::json!("general")])
            .into()
    }
}

impl utoipa::ToSchema for NotificationType {}

/// Why a `HERALD_NOTIFICATION_TYPES` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadTypeList {
    #[error("type {0:?} {NAME_RULE}")]
    Type(String),
    #[error("category {0:?} {NAME_RULE}")]
    Category(String),
    #[error("type {0:?} is named twice")]
    Twice(String),
    #[error("must name at least one type")]
    Empty,
}

/// The configured types in the order given, each with its category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeCatalog {
    types: Vec<(NotificationType, Option<Category>)>,
    /// "must be one of a, b, …", built once.
    one_of: String,
}

impl Default for TypeCatalog {
    /// The original's eight types, without categories.
    fn default() -> Self {
        let types = NotificationType::ORIGINAL.iter().filter_map(|name| NotificationType::parse(name));
        TypeCatalog::new(types.map(|kind| (kind, None)).collect())
    }
}

impl TypeCatalog {
    fn new(types: Vec<(NotificationType, Option<Category>)>) -> Self {
        let names: Vec<&str> = types.iter().map(|(kind, _)| kind.as_str()).collect();
        let one_of = format!("must be one of {}", names.join(", "));
        TypeCatalog { types, one_of }
    }

    /// Reads `HERALD_NOTIFICATION_TYPES`: comma-separated `type` or `type:category`, at least
    /// one, each type once.
    pub fn parse(spec: &str) -> Result<Self, BadTypeList> {
        let mut types: Vec<(NotificationType, Option<Category>)> = vec![];
        for entry in spec.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let (name, category) = match entry.split_once(':') {
                Some((name, category)) => (name.trim(), Some(category.trim())),
                None => (entry, None),
            };
            let kind = NotificationType::parse(name).ok_or_else(|| BadTypeList::Type(name.to_owned()))?;
            let category = match category {
                Some(raw) => Some(Category::parse(raw).ok_or_else(|| BadTypeList::Category(raw.to_owned()))?),
                None => None,
            };
            if types.iter().any(|(known, _)| *known == kind) {
                return Err(BadTypeList::Twice(name.to_owned()));
            }
            types.push((kind, category));
        }
        if types.is_empty() {
            return Err(BadTypeList::Empty);
        }
        Ok(TypeCatalog::new(types))
    }

    /// Every configured type, in the configured order.
    pub fn types(&self) -> impl Iterator<Item = NotificationType> + '_ {
        self.types.iter().map(|(kind, _)| *kind)
    }

    /// Every category some type belongs to, sorted, each once.
    pub fn categories(&self) -> Vec<Category> {
        let mut all: Vec<Category> = self.types.iter().filter_map(|(_, category)| *category).collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    pub fn category_of(&self, kind: NotificationType) -> Option<Category> {
        self.types.iter().find(|(known, _)| *known == kind).and_then(|(_, category)| *category)
    }

    /// The types of `category` (empty when no type has it).
    pub fn types_in(&self, category: Category) -> Vec<NotificationType> {
        self.types.iter().filter(|(_, of)| *of == Some(category)).map(|(kind, _)| *kind).collect()
    }

    pub fn contains(&self, kind: NotificationType) -> bool {
        self.types.iter().any(|(known, _)| *known == kind)
    }

    /// `kind` when configured, else `Invalid` on `field` naming the allowed types.
    pub fn check(&self, field: &'static str, kind: NotificationType) -> Result<NotificationType, Invalid> {
        if self.contains(kind) {
            Ok(kind)
        } else {
            Err(Invalid::new(field, self.one_of.clone()))
        }
    }

    /// A type name as a client wrote it, when valid and configured.
    pub fn parse_type(&self, field: &'static str, raw: &str) -> Result<NotificationType, Invalid> {
        NotificationType::parse(raw)
            .filter(|kind| self.contains(*kind))
            .ok_or_else(|| Invalid::new(field, self.one_of.clone()))
    }

    /// A category name as a client wrote it, when some configured type has it.
    pub fn parse_category(&self, field: &'static str, raw: &str) -> Result<Category, Invalid> {
        let known = self.categories();
        Category::parse(raw).filter(|category| known.contains(category)).ok_or_else(|| {
            let names: Vec<&str> = known.iter().map(Category::as_str).collect();
            match names.is_empty() {
                true => Invalid::new(field, "no category is configured (HERALD_NOTIFICATION_TYPES type:category)"),
                false => Invalid::new(field, format!("must be one of {}", names.join(", "))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_catalog_is_the_originals_eight_and_refuses_others_naming_them() {
        let catalog = TypeCatalog::default();
        let names: Vec<String> = catalog.types().map(|t| t.as_str().to_owned()).collect();
        assert_eq!(names, NotificationType::ORIGINAL);
        assert!(catalog.parse_type("type", "mom_created").is_ok());
        let refused = catalog.parse_type("type", "alert").expect_err("not configured");
        assert!(refused.message.contains("meeting, meeting_response"), "{}", refused.message);
        assert!(catalog.parse_type("type", "General").is_err());
        assert!(catalog.categories().is_empty());
    }

    #[test]
    fn configured_types_carry_categories_and_bad_lists_are_refused() {
        let catalog = TypeCatalog::parse(" invoice.paid:billing, invoice.failed:billing ,comment, deploy-done:ops")
            .expect("valid");
        assert_eq!(catalog.types().count(), 4);
        let billing = Category::parse("billing").expect("name");
        assert_eq!(catalog.category_of(NotificationType::parse("invoice.paid").expect("name")), Some(billing));
        assert_eq!(catalog.types_in(billing).len(), 2);
        assert_eq!(catalog.categories().iter().map(Category::as_str).collect::<Vec<_>>(), ["billing", "ops"]);
        assert!(catalog.parse_category("category", "marketing").is_err());
        for bad in ["", " , ", "Alert", "a b", "x:", "x:Bad", "a,a", &"y".repeat(51)] {
            assert!(TypeCatalog::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TypeCatalog::parse(&"y".repeat(50)).is_ok());
    }
}
