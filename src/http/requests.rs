//! What REST requests carry, as the OpenAPI document describes it: the JSON bodies of create,
//! broadcast and the preferences update, the `Idempotency-Key` header and the `{id}` path
//! parameter. The handlers take a body as a JSON object and the domain parses it
//! (`NewNotification::parse`, `PreferencesPatch::parse`), so that every broken rule names its
//! field; these types describe that input and are never deserialized.

use crate::domain::NotificationType;
use serde::Deserialize;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder,
    SchemaFormat, Type,
};
use utoipa::openapi::{RefOr, Required, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// The largest id the document lets a client send as a digit string: 18 digits, always below
/// `i64::MAX` (the server accepts up to `i64::MAX`).
const ID_DIGITS: &str = "^0*[1-9][0-9]{0,17}$";

/// A user id as the original's clients send it: a positive 64-bit integer or a string of digits.
pub struct UserIdInput;

impl PartialSchema for UserIdInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(positive_id())
            .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(ID_DIGITS)))
            .description(Some(
                "A positive 64-bit integer (written without a fraction or exponent: `2.0` is \
                 refused), or a string of its digits",
            ))
            .into()
    }
}

impl ToSchema for UserIdInput {}

/// A positive 64-bit integer id.
fn positive_id() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(i64::MAX))
}

/// An approval's `item_id`: an integer (64-bit, signed or not) or a string.
pub struct ItemId;

impl PartialSchema for ItemId {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(i64::MIN)).maximum(Some(u64::MAX)))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .into()
    }
}

impl ToSchema for ItemId {}

/// Some configured types (or categories), each with the fields to change; an unknown name is
/// refused.
pub struct PreferenceChanges;

impl PartialSchema for PreferenceChanges {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::RefOr(PreferenceChange::schema())))
            .property_names(Some(AllOfBuilder::new().item(type_ref())))
            .into()
    }
}

impl ToSchema for PreferenceChanges {}

/// Some configured categories, each with the fields to change for all its types.
pub struct CategoryChanges;

impl PartialSchema for CategoryChanges {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::RefOr(PreferenceChange::schema())))
            .property_names(Some(AllOfBuilder::new().item(category_ref())))
            .into()
    }
}

/// A JSON object a notification's `data` contains. On SQLite (the document a SQLite node serves
/// says so) its top-level values are strings, numbers or booleans and its keys hold no `"`.
pub struct DataFilter;

impl PartialSchema for DataFilter {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("A JSON object `data` contains (PostgreSQL: `@>`, any JSON)"))
            .into()
    }
}

impl ToSchema for DataFilter {}

/// A configured category (`HERALD_NOTIFICATION_TYPES` `type:category`); the document a node
/// serves lists its own.
pub struct CategoryName;

impl PartialSchema for CategoryName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[a-z0-9_.-]{1,50}$"))
            .description(Some("A configured category (`HERALD_NOTIFICATION_TYPES` `type:category`)"))
            .into()
    }
}

impl ToSchema for CategoryName {}

/// `NotificationType`, by reference: the document a node serves lists its configured types there.
fn type_ref() -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name("NotificationType"))
}

fn category_ref() -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name("CategoryName"))
}

/// The `{id}` of a notification path.
pub struct NotificationIdPath;

impl IntoParams for NotificationIdPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let id = positive_id().maximum(None::<i64>);
        let parameter = ParameterBuilder::new()
            .name("id")
            .parameter_in(ParameterIn::Path)
            .description(Some(
                "A notification id: another user's, a missing one or one that is not a positive 64-bit\n\
                 integer is 404.",
            ))
            .required(Required::True)
            .schema(Some(id));
        vec![parameter.build()]
    }
}

/// `Idempotency-Key` on create and broadcast.
pub struct IdempotencyKey;

impl IntoParams for IdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let key = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(255))
            .pattern(Some("^[!-~]([\\t -~]*[!-~])?$"));
        let parameter = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .description(Some(
                "1 to 255 printable ASCII characters or tabs (trimmed). A repeat with the same key and the\n\
                 same request from the same caller within 24 hours returns the first reply and creates\n\
                 nothing, also when the repeats arrive at the same time; the same key with a different\n\
                 request (recipients or content as parsed) is 422 `idempotency_key_reused`.",
            ))
            .required(Required::False)
            .schema(Some(key));
        vec![parameter.build()]
    }
}

/// The fields of a notification (SPEC §3). `notification_type` is accepted as another name for
/// `type` (they must agree when both are given). For `approval` notifications, top-level
/// `form_type`, `item_id` and `approved` are folded into `data`. Unknown fields are ignored.
#[derive(Deserialize, ToSchema)]
pub struct NotificationContent {
    /// 1 to 200 characters after trimming.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    pub title: String,
    /// Up to 5000 characters; default empty.
    #[schema(max_length = 5000, pattern = r"^[^\u0000]*$")]
    pub message: Option<String>,
    /// Default `general`.
    #[serde(rename = "type")]
    #[schema(value_type = Option<NotificationType>)]
    pub kind: Option<String>,
    /// A JSON object of at most 16 KiB serialized; default `{}`.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// An absolute http(s) URL of at most 2048 characters.
    #[schema(
        max_length = 2048,
        pattern = r"^https?://[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~/-]*)?$"
    )]
    pub link: Option<String>,
    /// Approval notifications: folded into `data`.
    pub form_type: Option<String>,
    /// Approval notifications: folded into `data`.
    #[schema(value_type = Option<ItemId>)]
    pub item_id: Option<serde_json::Value>,
    /// Approval notifications: folded into `data`.
    pub approved: Option<bool>,
}

/// A notification for one user.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({
    "title": "New Task Assigned", "message": "You have been assigned a new task", "type": "general",
    "data": {"task_id": 123}, "link": "https://example.com/tasks/123"
}))]
pub struct CreateNotification {
    /// The recipient; default the caller. Another user needs `is_staff` or `notifications:send`.
    #[schema(value_type = Option<UserIdInput>)]
    pub user_id: Option<serde_json::Value>,
    #[serde(flatten)]
    pub content: NotificationContent,
}

/// The same notification for many users, in one transaction.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"user_ids": [1, 2, 3, 2], "title": "Maintenance tonight", "type": "general"}))]
pub struct BroadcastNotification {
    /// 1 to `HERALD_MAX_BROADCAST_RECIPIENTS` (default 10000) users; duplicates are ignored.
    #[schema(value_type = Vec<UserIdInput>, min_items = 1, max_items = 10000)]
    pub user_ids: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub content: NotificationContent,
}

/// The recipients and type of a broadcast to preview (the rest of a broadcast body is ignored).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"user_ids": [1, 2, 3], "notification_type": "approval"}))]
pub struct BroadcastPreviewRequest {
    /// 1 to `HERALD_MAX_BROADCAST_RECIPIENTS` (default 10000) users; duplicates are ignored.
    #[schema(value_type = Vec<UserIdInput>, min_items = 1, max_items = 10000)]
    pub user_ids: Vec<serde_json::Value>,
    /// Default `general` (also accepted as `type`).
    #[schema(value_type = Option<NotificationType>)]
    pub notification_type: Option<serde_json::Value>,
}

/// Any well-formed type name, configured or not (the admin console searches types taken off
/// `HERALD_NOTIFICATION_TYPES` too).
pub struct TypeName;

impl PartialSchema for TypeName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[a-z0-9_.-]{1,50}$")).into()
    }
}

impl ToSchema for TypeName {}

/// A snooze: until when (RFC 3339, in the next 366 days).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"snooze_until": "2026-12-08T09:00:00Z"}))]
pub struct SnoozeUntil {
    #[schema(format = DateTime)]
    pub snooze_until: String,
}

/// A bulk action: `action`, and either `ids` (1 to 1,000) or `filter` (the list's filters;
/// `{}` is the default list). `snooze` needs `snooze_until`; other actions ignore it.
pub struct BulkAction;

impl PartialSchema for BulkAction {
    fn schema() -> RefOr<Schema> {
        let variant = |actions: &[&str], target: (&str, RefOr<Schema>), snooze: bool| {
            let action = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(actions.to_vec()));
            let mut object = ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("action", action)
                .required("action")
                .property(target.0, target.1)
                .required(target.0);
            if snooze {
                object = object.property("snooze_until", date_time()).required("snooze_until");
            }
            object
        };
        let others = ["read", "unread", "seen", "archive", "unarchive", "delete"];
        OneOfBuilder::new()
            .item(variant(&others, ("ids", bulk_ids()), false))
            .item(variant(&others, ("filter", BulkFilter::schema()), false))
            .item(variant(&["snooze"], ("ids", bulk_ids()), true))
            .item(variant(&["snooze"], ("filter", BulkFilter::schema()), true))
            .examples([serde_json::json!({"action": "archive", "filter": {"read": true}})])
            .into()
    }
}

impl ToSchema for BulkAction {}

fn date_time() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
}

fn bulk_ids() -> RefOr<Schema> {
    ArrayBuilder::new().items(positive_id()).min_items(Some(1)).max_items(Some(1000)).into()
}

/// Which notifications a bulk action covers: the list's filters, as JSON (all combine; a
/// contradiction such as `read: false` with `archived: true` is refused naming both).
pub struct BulkFilter;

impl PartialSchema for BulkFilter {
    fn schema() -> RefOr<Schema> {
        let boolean = || ObjectBuilder::new().schema_type(Type::Boolean);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("types", ArrayBuilder::new().items(type_ref()).min_items(Some(1)))
            .property("category", category_ref())
            .property("read", boolean())
            .property("seen", boolean())
            .property("archived", boolean())
            .property("snoozed", boolean())
            .property("created_after", date_time())
            .property("created_before", date_time())
            .property("before", positive_id())
            .property("data", RefOr::Ref(utoipa::openapi::Ref::from_schema_name("DataFilter")))
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
            .into()
    }
}

/// A partial update: only the types and fields given change; a category's change applies to
/// each of its types, and a type named as well gets its own fields on top. At least one of the
/// two maps. An unknown type, category or field, or a value that is not a boolean, is refused and
/// changes nothing.
pub struct PreferencesUpdate;

impl PartialSchema for PreferencesUpdate {
    fn schema() -> RefOr<Schema> {
        let with = |name: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("preferences", PreferenceChanges::schema())
                .property("categories", CategoryChanges::schema())
                .required(name)
        };
        AnyOfBuilder::new()
            .item(with("preferences"))
            .item(with("categories"))
            .description(Some(
                "`preferences` keyed by type, `categories` keyed by category (`HERALD_NOTIFICATION_TYPES` \
                 `type:category`); at least one",
            ))
            .examples([serde_json::json!({"preferences": {"meeting": {"realtime": false}}})])
            .into()
    }
}

impl ToSchema for PreferencesUpdate {}

/// The fields of one type to change; absent fields keep their value.
#[derive(Deserialize, ToSchema)]
#[schema(no_recursion)]
#[serde(deny_unknown_fields)]
pub struct PreferenceChange {
    #[schema(value_type = bool, required = false)]
    pub enabled: Option<bool>,
    #[schema(value_type = bool, required = false)]
    pub realtime: Option<bool>,
}
