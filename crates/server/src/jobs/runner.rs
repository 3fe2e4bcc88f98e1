//! Runs a job's rounds on its schedule until told to stop, and logs each round's counters.

use super::stats::JobStats;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Items claimed.
    pub scanned: usize,
    /// Items brought to a final or corrected state.
    pub fixed: usize,
    /// Items that failed and will be retried with backoff.
    pub failed: usize,
}

/// Runs `round` every `interval` until `stop`; a round in progress finishes first (its claims
/// are either completed or released by rescheduling, never left half-done in memory).
pub async fn run_every<F, Fut>(
    name: &'static str,
    interval: Duration,
    stats: Arc<JobStats>,
    stop: CancellationToken,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<RoundReport>>,
{
    loop {
        match round().await {
            Ok(report) => {
                let totals = stats.record(name, report);
                if report.scanned > 0 {
                    tracing::info!(
                        job = name,
                        scanned = report.scanned,
                        fixed = report.fixed,
                        failed = report.failed,
                        total_scanned = totals.scanned,
                        total_fixed = totals.fixed,
                        total_failed = totals.failed,
                        "job round"
                    );
                }
            }
            Err(e) => tracing::error!(job = name, error = ?e, "job round failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    let totals = stats.snapshot().get(name).copied().unwrap_or_default();
    tracing::info!(
        job = name,
        scanned = totals.scanned,
        fixed = totals.fixed,
        failed = totals.failed,
        "job stopped"
    );
}

/// When to look again at an item that failed `attempts` times: `base` doubled per attempt,
/// capped at 10 minutes, plus up to half again of jitter so retries do not synchronise.
pub fn retry_after(base: Duration, attempts: u32) -> Duration {
    use rand::Rng;
    let delay = base
        .saturating_mul(1 << attempts.min(16))
        .min(Duration::from_secs(600));
    let jitter = rand::rng().random_range(0..=delay.as_millis() as u64 / 2);
    delay + Duration::from_millis(jitter)
}
