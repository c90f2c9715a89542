//! `max-rate`: `latency` at rising rates until a step loses a push, misses its rate or has p99
//! above `--max-p99-ms` twice in a row; prints every step and the highest good rate.

use crate::error::BenchError;
use crate::latency::{self, Load};
use herald::config::Config;
use std::time::Duration;

/// The rates `max-rate` tries and what counts as good.
pub struct Steps {
    pub start: u64,
    pub step: u64,
    pub max: u64,
    pub duration: Duration,
    pub users: i64,
    pub max_p99_ms: f64,
}

pub async fn run(base: &str, ws_bases: &[String], config: &Config, steps: Steps) -> Result<(), BenchError> {
    let mut best = 0;
    let mut rate = steps.start;
    let mut retried = false;
    while rate <= steps.max {
        let load = Load { rate, duration: steps.duration, users: steps.users };
        let figures = latency::run(base, ws_bases, config, load).await?;
        println!("{figures}");
        let good = figures.lost() == 0 && figures.p99_ms <= steps.max_p99_ms && figures.achieved >= rate as f64 * 0.95;
        if !good {
            // One spike of a shared machine should not end the search: a failed step runs once
            // more, and the search ends when it fails again.
            if retried {
                break;
            }
            retried = true;
            println!("max-rate: {rate}/s failed; running it once more");
            continue;
        }
        retried = false;
        best = rate;
        rate += steps.step;
    }
    println!("max-rate: highest good rate={best}/s (0 lost, p99 <= {} ms, rate achieved)", steps.max_p99_ms);
    Ok(())
}
