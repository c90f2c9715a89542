//! Domain types: validated values with `parse` constructors (failing with `Invalid`), the rules
//! of SPEC §2 (`Principal`: who may do what) and §3, the per-user storage cap (`capacity`), and
//! the records the use-cases return (`records`). No IO here: the database and the wire layers convert to and from these types.

pub mod admin_query;
pub mod capacity;
pub mod ids;
pub mod inbox_filter;
pub mod invalid;
pub mod list_query;
pub mod notification;
pub mod notification_type;
pub mod origins;
pub mod preferences;
pub mod principal;
pub mod query_string;
pub mod records;
pub mod state_change;
pub mod stream_pos;

pub use admin_query::{AdminQuery, AuditQuery, PreferenceQuery};
pub use capacity::{Admission, InboxCounts, StorageCap};
pub use ids::{NotificationId, UserId};
pub use inbox_filter::{InboxFilter, ListParam};
pub use invalid::Invalid;
pub use list_query::ListQuery;
pub use notification::{NewNotification, NotificationContent};
pub use notification_type::{Category, NotificationType, TypeCatalog};
pub use origins::AllowedOrigins;
pub use preferences::{Preference, Preferences, PreferencesPatch};
pub use principal::{Denied, Principal};
pub use query_string::QueryString;
pub use records::{
    request_hash, AuditEntry, AuditRecord, BroadcastOutcome, BroadcastPreview, Change, CreateOutcome, IdempotencyKey,
    Idempotent, InboxSnapshot, Page, Pruned, RenderReply, StoredNotification, StoredReply, UserPreference,
};
pub use state_change::{CountDelta, RowState, Selection, StateAction, MAX_BULK_IDS};
pub use stream_pos::StreamPos;
