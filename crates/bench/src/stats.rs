//! Timing helpers: latency samples, percentiles, and per-operation medians.

use std::time::{Duration, Instant};

/// Latencies of individual operations.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Samples from a list.
    pub fn from_vec(values: Vec<Duration>) -> Self {
        Self(values)
    }

    /// Adds one latency.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile (0..=1), nearest-rank; zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    /// The median.
    pub fn p50(&self) -> Duration {
        self.quantile(0.50)
    }

    /// The 99th percentile.
    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }
}

/// The median of some durations (zero when empty).
pub fn median(values: &[Duration]) -> Duration {
    Samples::from_vec(values.to_vec()).p50()
}

/// Per-op time of `op`, measured as `rounds` batches of `n` calls after one warm-up batch,
/// for several contenders interleaved round by round (so drift on a noisy machine hits
/// them alike); the median batch mean of each.
pub fn per_op_interleaved(n: u32, rounds: u32, ops: &mut [&mut dyn FnMut()]) -> Vec<Duration> {
    for op in ops.iter_mut() {
        for _ in 0..n.div_ceil(4).max(1) {
            op();
        }
    }
    let mut means: Vec<Vec<Duration>> = vec![Vec::new(); ops.len()];
    for _ in 0..rounds {
        for (i, op) in ops.iter_mut().enumerate() {
            let started = Instant::now();
            for _ in 0..n {
                op();
            }
            means[i].push(started.elapsed() / n);
        }
    }
    means.iter().map(|m| median(m)).collect()
}

/// A duration in a readable unit.
pub fn fmt_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else if ns < 10_000_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else {
        format!("{:.1} s", ns as f64 / 1e9)
    }
}

/// A duration in milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let s = Samples::from_vec((1..=100).map(Duration::from_millis).collect());
        assert_eq!(s.p50(), Duration::from_millis(50));
        assert_eq!(s.p99(), Duration::from_millis(99));
        assert_eq!(s.quantile(1.0), Duration::from_millis(100));
    }
}
