//! `max-rate`: `latency` at rising rates until a step loses a push, misses its rate or has p99
//! above `--max-p99-ms` twice in a row; prints every step and the highest good rate.

use crate::error::BenchError;
use crate::latency::{self, Load};
use crate::sse::Transport;
use herald::config::Config;
use std::time::Duration;

/// How long a failed step's connections get to close before it runs again.
const RETRY_PAUSE: Duration = Duration::from_secs(3);

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
        let load = Load { rate, duration: steps.duration, users: steps.users, transport: Transport::Ws };
        // A step that cannot run (after an overloaded one, the client may be out of file
        // descriptors until its connections close) is a failed step, not the end of the bench.
        let good = match latency::run(base, ws_bases, config, load).await {
            Ok(figures) => {
                println!("{figures}");
                figures.lost() == 0 && figures.p99_ms <= steps.max_p99_ms && figures.achieved >= rate as f64 * 0.95
            }
            Err(err) => {
                println!("latency: rate={rate}/s could not run: {err}");
                false
            }
        };
        if !good {
            // One spike of a shared machine should not end the search: a failed step runs once
            // more, after its connections have closed, and the search ends when it fails again.
            if retried {
                break;
            }
            retried = true;
            println!("max-rate: {rate}/s failed; running it once more");
            actix_web::rt::time::sleep(RETRY_PAUSE).await;
            continue;
        }
        retried = false;
        best = rate;
        rate += steps.step;
    }
    println!("max-rate: highest good rate={best}/s (0 lost, p99 <= {} ms, rate achieved)", steps.max_p99_ms);
    Ok(())
}
