//! Domain types: validated values with `parse` constructors (failing with `Invalid`), the rules
//! of SPEC §2 (`Principal`: who may do what) and §3, and the inbox's vocabulary (`inbox`: what use-cases take and return).
//! No IO here: the database and the wire layers convert to and from these types.

pub mod ids;
pub mod inbox;
pub mod invalid;
pub mod notification;
pub mod notification_type;
pub mod preferences;
pub mod principal;

pub use ids::{NotificationId, UserId};
pub use inbox::{
    BroadcastOutcome, Change, CreateOutcome, IdempotencyKey, Idempotent, InboxPosition, ListQuery, Page, RenderReply,
    StoredNotification, StoredReply,
};
pub use invalid::Invalid;
pub use notification::{NewNotification, NotificationContent};
pub use notification_type::NotificationType;
pub use preferences::{Preference, Preferences, PreferencesPatch};
pub use principal::{Denied, Principal};
