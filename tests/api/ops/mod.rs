//! What an operator sees and runs: the CLI, metrics and monitoring files, logs, secrets policy,
//! selftest, the README's reference, and the shape of the source itself.

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
