//! Domain types: validated values with `parse` constructors, and the rules of SPEC §3.
//! No IO here: the database and the wire layers convert to and from these types.

pub mod ids;
pub mod notification;
pub mod notification_type;
pub mod preferences;

pub use ids::{NotificationId, UserId};
pub use notification::{NewNotification, NotificationContent};
pub use notification_type::NotificationType;
pub use preferences::{Preference, Preferences, PreferencesPatch};
