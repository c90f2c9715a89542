//! The live-push side of the WebSocket API (SPEC §3, §5): every change reaches every socket of its
//! user, is not echoed to the socket that made it, and ids arrive exactly once and in order.

mod broadcast;
mod ordering;
mod replay;
mod rest_changes;
mod socket_changes;

use std::time::Duration;

/// How long a socket must stay quiet to count as "got nothing".
const QUIET: Duration = Duration::from_millis(300);
