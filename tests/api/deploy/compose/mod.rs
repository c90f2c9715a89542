//! The production shape built and run for real: `docker compose up --build` of docker-compose.yml,
//! its hardening checked (`hardening`: the ops endpoints off the public side, the replicas
//! confined, Redis refusing a stranger), then through nginx only (https, wss): `herald selftest`,
//! and with sockets open and creates flowing, one drill after another (a replica killed, a
//! rolling restart, scaling up and down, Redis and PostgreSQL restarted, a replica cut off from
//! Redis). After each, every socket holds every notification of its user exactly once, in order.
//! Ignored by a plain `cargo test` (it needs Docker); `.ci/run` runs it:
//! `cargo test --test api compose:: -- --ignored --nocapture`.

mod creators;
mod drill;
mod fleet;
mod hardening;
mod sockets;
mod stack;

use crate::helpers::{now_secs, sign_with};
use serde_json::json;
use std::sync::LazyLock;
use std::time::Duration;

/// The stack's `JWT_SECRET`, drawn for this run: its replicas listen on 0.0.0.0, where a secret
/// committed to the repository (the helpers' `SECRET`) is refused.
static STACK_SECRET: LazyLock<String> = LazyLock::new(|| {
    use rand::Rng;
    let bytes: [u8; 32] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
});

/// An hour's access token for `user` (staff: may create for others) signed with `STACK_SECRET`.
fn stack_token(user: i64, staff: bool) -> String {
    let claims = json!({"token_type": "access", "user_id": user, "exp": now_secs() + 3600, "is_staff": staff});
    sign_with(&claims, jsonwebtoken::Algorithm::HS256, &STACK_SECRET)
}

const STEP: Duration = Duration::from_secs(180);

const RECOVERY: Duration = Duration::from_secs(120);
