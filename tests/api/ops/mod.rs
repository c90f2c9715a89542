//! What an operator sees and runs: the CLI, metrics and monitoring files, logs, secrets policy,
//! selftest, the README's reference, the shape of the source itself, and a clean exit under load.

mod cli;
mod docs;
mod layers;
mod listener;
mod logs;
mod metrics;
mod readiness;
mod secrets;
mod selftest;
mod source_shape;
mod supply_chain;
mod tls_exit;
