//! The latency histogram the timed modes record into (microseconds) and read in milliseconds.

use crate::error::BenchError;
use hdrhistogram::Histogram;

/// From 1 µs to one minute, three significant digits.
pub fn latency_histogram() -> Result<Histogram<u64>, BenchError> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// The latency at quantile `q`, in milliseconds.
pub fn ms_at(histogram: &Histogram<u64>, q: f64) -> f64 {
    histogram.value_at_quantile(q) as f64 / 1000.0
}

/// The highest latency recorded, in milliseconds.
pub fn max_ms(histogram: &Histogram<u64>) -> f64 {
    histogram.max() as f64 / 1000.0
}
