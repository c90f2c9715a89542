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

use std::time::Duration;

const STEP: Duration = Duration::from_secs(180);

const RECOVERY: Duration = Duration::from_secs(120);
