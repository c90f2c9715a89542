//! This node's recent activity for the cluster overview: creates and pushes per second and the
//! delivery p99, over a sliding window of the node's own counters (`crate::metrics`), sampled
//! every `SAMPLE_EVERY` by `run`; a status compares now with the oldest sample kept.

use crate::metrics::Metrics;
use prometheus::core::Metric;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the counters are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples kept: the window is between `SAMPLE_EVERY × (KEPT − 1)` and `× KEPT` long.
const KEPT: usize = 3;

/// The counters at one instant.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    created: u64,
    pushed: u64,
    /// The delivery histogram's cumulative bucket counts, then its total count.
    latency: Vec<u64>,
}

/// Creates/s, pushes/s and the delivery p99 over the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activity {
    pub creates_per_second: f64,
    pub pushes_per_second: f64,
    pub delivery_p99_ms: Option<f64>,
}

pub struct RecentActivity {
    metrics: Arc<Metrics>,
    samples: Mutex<VecDeque<Sample>>,
    /// The histogram's bucket upper bounds, seconds.
    bounds: Vec<f64>,
}

impl RecentActivity {
    pub fn new(metrics: Arc<Metrics>) -> RecentActivity {
        let histogram = metrics.publish_to_delivery.metric();
        let bounds = histogram.get_histogram().get_bucket().iter().map(|b| b.upper_bound()).collect();
        let recent = RecentActivity { metrics, samples: Mutex::new(VecDeque::with_capacity(KEPT + 1)), bounds };
        let first = recent.sample();
        recent.samples.lock().unwrap_or_else(|e| e.into_inner()).push_back(first);
        recent
    }

    /// Samples the counters every `SAMPLE_EVERY` until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = every.tick() => {}
            }
            let sample = self.sample();
            let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
            samples.push_back(sample);
            while samples.len() > KEPT {
                samples.pop_front();
            }
        }
    }

    /// Activity from the oldest sample kept until now.
    pub fn now(&self) -> Activity {
        let now = self.sample();
        let oldest = self.samples.lock().unwrap_or_else(|e| e.into_inner()).front().cloned();
        let Some(oldest) = oldest else {
            return Activity { creates_per_second: 0.0, pushes_per_second: 0.0, delivery_p99_ms: None };
        };
        let seconds = now.at.duration_since(oldest.at).as_secs_f64().max(1e-3);
        let latency: Vec<u64> = now.latency.iter().zip(&oldest.latency).map(|(n, o)| n.saturating_sub(*o)).collect();
        Activity {
            creates_per_second: now.created.saturating_sub(oldest.created) as f64 / seconds,
            pushes_per_second: now.pushed.saturating_sub(oldest.pushed) as f64 / seconds,
            delivery_p99_ms: quantile(0.99, &self.bounds, &latency).map(|s| s * 1000.0),
        }
    }

    fn sample(&self) -> Sample {
        let histogram = self.metrics.publish_to_delivery.metric();
        let histogram = histogram.get_histogram();
        let mut latency: Vec<u64> = histogram.get_bucket().iter().map(|b| b.cumulative_count()).collect();
        latency.push(histogram.get_sample_count());
        Sample {
            at: Instant::now(),
            created: self.metrics.notifications_created.get(),
            pushed: self.metrics.notifications_delivered.get(),
            latency,
        }
    }
}

/// The `q`-quantile of observations counted in cumulative buckets (`counts`: one per bound,
/// then the total), interpolated linearly inside its bucket as Prometheus' `histogram_quantile`
/// does; the highest bound when it falls above it; `None` without observations.
fn quantile(q: f64, bounds: &[f64], counts: &[u64]) -> Option<f64> {
    let total = *counts.last()?;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let (mut lower, mut below) = (0.0, 0u64);
    for (bound, &count) in bounds.iter().zip(counts) {
        if count as f64 >= rank {
            let inside = (count - below).max(1) as f64;
            return Some(lower + (bound - lower) * (rank - below as f64) / inside);
        }
        (lower, below) = (*bound, count);
    }
    bounds.last().copied()
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn the_quantile_is_interpolated_inside_its_bucket() {
        let bounds = [0.001, 0.002, 0.005];
        // 100 observations: 50 under 1 ms, 49 between 1 and 2 ms, 1 between 2 and 5 ms.
        assert_eq!(quantile(0.5, &bounds, &[50, 99, 100, 100]), Some(0.001));
        let p99 = quantile(0.99, &bounds, &[50, 99, 100, 100]).expect("a value");
        assert!((p99 - 0.002).abs() < 1e-9, "{p99}");
        assert_eq!(quantile(0.99, &bounds, &[0, 0, 0, 0]), None);
        assert_eq!(quantile(0.99, &bounds, &[0, 0, 0, 10]), Some(0.005), "above every bound: the highest");
    }
}
