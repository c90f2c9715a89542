//! Who a caller is and what they may do (SPEC §2): `Principal`, made by `crate::auth` from a
//! verified token, and the permission rules the use-cases check. No IO.

use super::ids::UserId;

/// The verified caller of a request or owner of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    /// `is_staff: true` or the `notifications:send` scope: may create for others and broadcast.
    pub can_send: bool,
    /// `is_staff: true` or the `notifications:admin` scope: may use the admin console (every
    /// user's notifications, preferences and sockets).
    pub can_administer: bool,
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

impl Principal {
    /// The console is for staff and holders of the admin scope only (`notifications:send` alone
    /// does not grant it).
    pub fn ensure_may_administer(&self) -> Result<(), Denied> {
        if self.can_administer {
            Ok(())
        } else {
            Err(Denied("the admin console needs is_staff or the notifications:admin scope"))
        }
    }

    /// The owner of an inbox, as the use-cases see them when staff act on it: the change is
    /// made, counted and pushed exactly as the user's own.
    pub fn owner(user_id: UserId, expires_at: i64) -> Principal {
        Principal { user_id, can_send: false, can_administer: false, expires_at }
    }
}

/// A caller lacks the permission an action needs (403 at the edges); says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub &'static str);
