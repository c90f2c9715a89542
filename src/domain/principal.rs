//! Who a caller is and what they may do (SPEC §2): `Principal`, made by `crate::auth` from a
//! verified token, and the permission rules the use-cases check. No IO.

use super::ids::UserId;

/// The verified caller of a request or owner of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    /// `is_staff: true` or the `notifications:send` scope: may create for others and broadcast.
    pub can_send: bool,
    /// `exp` of the token, seconds since the Unix epoch.
    pub expires_at: i64,
}

impl Principal {
    /// Anyone may notify themselves; notifying others needs the send permission.
    pub fn ensure_may_notify(&self, recipient: UserId) -> Result<(), Denied> {
        if recipient == self.user_id || self.can_send {
            Ok(())
        } else {
            Err(Denied("creating notifications for other users needs is_staff or the notifications:send scope"))
        }
    }

    pub fn ensure_may_broadcast(&self) -> Result<(), Denied> {
        if self.can_send {
            Ok(())
        } else {
            Err(Denied("broadcasting needs is_staff or the notifications:send scope"))
        }
    }
}

/// A caller lacks the permission an action needs (403 at the edges); says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub &'static str);
