//! The hub: this node's registry of open sockets, `UserId → sessions`, sharded (a
//! `std::sync::Mutex` per shard, never held across `.await`). `deliver` fans each event from the
//! broker out with `try_send` into each session's bounded outbox, so a slow socket never blocks
//! anyone: when its outbox is full the session is told to close (1013) and its client resumes
//! with `since`. Per user it keeps the highest stream position known here (`seen_position`),
//! and per session who is behind it (`SessionInfo`, for the admin console's list of a user's
//! live sockets and its "disconnect all").
//!
//! It knows events, not brokers (`crate::subscriptions` decides which channels are watched) and
//! does not decide repairs: `crate::repair` sends those through `SessionSignals`.

use crate::domain::{StreamPos, UserId};
use crate::event::{Event, SessionId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};

const SHARDS: usize = 64;

/// Out-of-band signals from the hub to one session task.
pub struct SessionSignals {
    /// The outbox overflowed: the client is too slow; close with 1013.
    pub overflowed: AtomicBool,
    /// Events may have been lost upstream (broker lag or reconnect): repair from the database.
    pub resync: AtomicBool,
    /// With `resync`: the user's stream position in the database, read for every user at once
    /// after the loss (`NO_DATABASE_POSITION` when none was): a session not behind it needs no
    /// query. Set and taken through `set_database_position` and `take_database_position`.
    database_position: AtomicI64,
    /// Wakes the session's main loop to look at the flags.
    pub wake: Notify,
    /// Wakes a session blocked writing to its socket when the outbox overflows.
    pub overflow: Notify,
    /// An administrator disconnected the user's sockets: close with 4003.
    pub disconnect: AtomicBool,
}

/// `SessionSignals::database_position` when there is none (positions are never negative).
const NO_DATABASE_POSITION: i64 = -1;

impl Default for SessionSignals {
    fn default() -> Self {
        SessionSignals {
            overflowed: AtomicBool::new(false),
            resync: AtomicBool::new(false),
            database_position: AtomicI64::new(NO_DATABASE_POSITION),
            wake: Notify::new(),
            overflow: Notify::new(),
            disconnect: AtomicBool::new(false),
        }
    }
}

impl SessionSignals {
    /// Hands the session its user's stream position in the database (with `resync`).
    pub fn set_database_position(&self, position: StreamPos) {
        self.database_position.store(position.get(), Ordering::Release);
    }

    /// The stream position in the database handed to the session since it last looked, if any.
    pub fn take_database_position(&self) -> Option<StreamPos> {
        let raw = self.database_position.swap(NO_DATABASE_POSITION, Ordering::AcqRel);
        (raw != NO_DATABASE_POSITION).then_some(StreamPos::new(raw))
    }
}

/// Who is behind a socket, as its handshake showed: when it connected, the client's address
/// (as a proxy in front forwarded it, else the peer's) and its user agent (cut to
/// `MAX_USER_AGENT_BYTES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// Unix seconds.
    pub connected_at: i64,
    pub client_addr: Option<Box<str>>,
    pub user_agent: Option<Box<str>>,
}

/// The longest user agent kept per socket.
pub const MAX_USER_AGENT_BYTES: usize = 256;

struct Registration {
    id: SessionId,
    outbox: mpsc::Sender<Arc<Event>>,
    signals: Arc<SessionSignals>,
    /// Boxed: one pointer in the user's list, read only by the admin console.
    info: Box<SessionInfo>,
}

/// One user's sessions on this node.
#[derive(Default)]
struct Local {
    sessions: Vec<Registration>,
    /// The highest stream position routed to these sessions or read by one of them.
    seen_position: StreamPos,
}

type Shard = Mutex<HashMap<UserId, Local>>;

pub struct Hub {
    shards: [Shard; SHARDS],
    sessions: AtomicUsize,
    /// A repair of every session was asked for (`request_full_repair`), served by the position
    /// check with one batched read (`resync_all_at`).
    full_repair: Notify,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        Hub {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            sessions: AtomicUsize::new(0),
            full_repair: Notify::new(),
        }
    }

    fn shard(&self, user: UserId) -> &Shard {
        &self.shards[(user.get() as u64 % SHARDS as u64) as usize]
    }

    /// Adds a session; events for its user are queued in `outbox` from now on. Returns true when
    /// it is the user's first session on this node (the caller tells `Subscriptions::watch`).
    pub fn register(
        &self,
        user: UserId,
        id: SessionId,
        (outbox, signals): (mpsc::Sender<Arc<Event>>, Arc<SessionSignals>),
        info: SessionInfo,
    ) -> bool {
        let mut shard = self.shard(user).lock().unwrap_or_else(|e| e.into_inner());
        let local = shard.entry(user).or_default();
        local.sessions.push(Registration { id, outbox, signals, info: Box::new(info) });
        self.sessions.fetch_add(1, Ordering::Relaxed);
        local.sessions.len() == 1
    }

    /// Removes a session. Returns true when it was the user's last on this node (the caller
    /// tells `Subscriptions::unwatch`).
    pub fn unregister(&self, user: UserId, id: SessionId) -> bool {
        let mut shard = self.shard(user).lock().unwrap_or_else(|e| e.into_inner());
        let Some(local) = shard.get_mut(&user) else { return false };
        let before = local.sessions.len();
        local.sessions.retain(|r| r.id != id);
        if local.sessions.len() < before {
            self.sessions.fetch_sub(1, Ordering::Relaxed);
        }
        if local.sessions.is_empty() {
            shard.remove(&user);
            return true;
        }
        false
    }

    /// Queues the event for every session of its user. Never waits: a full outbox marks that
    /// session overflowed. The originating session gets it too (to keep its stream position);
    /// it does not write it back to its own client.
    pub fn deliver(&self, event: &Arc<Event>) {
        let mut shard = self.shard(event.user_id).lock().unwrap_or_else(|e| e.into_inner());
        let Some(local) = shard.get_mut(&event.user_id) else { return };
        local.seen_position = local.seen_position.max(event.position);
        for session in &local.sessions {
            match session.outbox.try_send(event.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    session.signals.overflowed.store(true, Ordering::Release);
                    session.signals.overflow.notify_one();
                    session.signals.wake.notify_one();
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// The node's delivery task: every event arriving from the broker goes to its user's
    /// sessions here. If it fell behind and events were dropped, every session repairs its
    /// stream from the database.
    pub async fn deliver_all(self: Arc<Self>, mut events: tokio::sync::broadcast::Receiver<Event>) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(event) => self.deliver(&Arc::new(event)),
                Err(RecvError::Lagged(lost)) => {
                    log::warn!("delivery fell {lost} events behind the broker; sessions repair from the database");
                    self.request_full_repair();
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// The notice behind `Hub::request_full_repair` (`crate::repair`).
    pub(crate) fn full_repair(&self) -> &Notify {
        &self.full_repair
    }

    /// Calls `f` with every session's signals here and its user (shard locks held: no waiting).
    pub(crate) fn each_session(&self, mut f: impl FnMut(UserId, &SessionSignals)) {
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (user, local) in shard.iter() {
                local.sessions.iter().for_each(|session| f(*user, &session.signals));
            }
        }
    }

    /// Calls `f` with the signals of every session of these users here.
    pub(crate) fn each_session_of(&self, users: &[UserId], mut f: impl FnMut(&SessionSignals)) {
        for user in users {
            let shard = self.shard(*user).lock().unwrap_or_else(|e| e.into_inner());
            shard.get(user).into_iter().flat_map(|local| &local.sessions).for_each(|session| f(&session.signals));
        }
    }

    /// The user's sessions on this node and who is behind each.
    pub fn user_sessions(&self, user: UserId) -> Vec<(SessionId, SessionInfo)> {
        let shard = self.shard(user).lock().unwrap_or_else(|e| e.into_inner());
        let sessions = shard.get(&user).into_iter().flat_map(|local| &local.sessions);
        sessions.map(|session| (session.id, (*session.info).clone())).collect()
    }

    /// Tells every session of the user on this node to close with 4003; how many were told.
    pub fn disconnect_user(&self, user: UserId) -> usize {
        let mut told = 0;
        self.each_session_of(&[user], |signals| {
            signals.disconnect.store(true, Ordering::Release);
            signals.wake.notify_one();
            told += 1;
        });
        told
    }

    /// Users with a session on this node.
    pub fn user_count(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len()).sum()
    }

    /// Sessions of the user on this node.
    pub fn user_session_count(&self, user: UserId) -> usize {
        self.shard(user).lock().unwrap_or_else(|e| e.into_inner()).get(&user).map_or(0, |local| local.sessions.len())
    }

    /// Whether the user has a session on this node.
    pub fn has_user(&self, user: UserId) -> bool {
        self.shard(user).lock().unwrap_or_else(|e| e.into_inner()).contains_key(&user)
    }

    /// A session of the user read `position` from the database (its greeting or a repair): the
    /// user's sessions here are not behind it.
    pub fn note_position(&self, user: UserId, position: StreamPos) {
        let mut shard = self.shard(user).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(local) = shard.get_mut(&user) {
            local.seen_position = local.seen_position.max(position);
        }
    }

    /// The highest stream position known here for the user (`None` when no session is here).
    pub fn seen_position(&self, user: UserId) -> Option<StreamPos> {
        self.shard(user).lock().unwrap_or_else(|e| e.into_inner()).get(&user).map(|local| local.seen_position)
    }

    /// Every user with a session here and the highest stream position known here for them.
    pub fn seen_positions(&self) -> Vec<(UserId, StreamPos)> {
        let mut seen = Vec::with_capacity(self.session_count());
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            seen.extend(shard.iter().map(|(user, local)| (*user, local.seen_position)));
        }
        seen
    }

    /// Open sessions on this node.
    pub fn session_count(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }

    /// Every user with a session here and the ids of their sessions here.
    pub fn sessions_by_user(&self) -> Vec<(UserId, Vec<SessionId>)> {
        let mut held = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            held.extend(shard.iter().map(|(user, local)| (*user, local.sessions.iter().map(|s| s.id).collect())));
        }
        held
    }

    /// Users with at least one session on this node.
    pub fn users(&self) -> Vec<UserId> {
        self.shards
            .iter()
            .flat_map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect::<Vec<_>>())
            .collect()
    }
}
