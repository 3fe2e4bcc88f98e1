//! The one job runner: runs a job's rounds on its schedule until told to stop, and records
//! and logs each round's counters (`GET /api/v1/admin/jobs` shows their totals).

use super::stats::JobStats;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
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

/// When a job's rounds run.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The pause after a round.
    pub every: Duration,
    /// The pause before the first round.
    pub first_after: Duration,
    /// Ends the pause early when notified (the relay, woken by a payment).
    pub wake: Option<Arc<Notify>>,
    /// A round that claimed this many items runs again at once: more may be due.
    pub batch: Option<usize>,
}

impl Schedule {
    /// Every `every`, starting at once.
    pub fn every(every: Duration) -> Self {
        Self {
            every,
            first_after: Duration::ZERO,
            wake: None,
            batch: None,
        }
    }
}

/// Runs `round` on `schedule` in a task of its own until `stop`; a round in progress
/// finishes first (its claims are completed or released by rescheduling, never left
/// half-done in memory).
pub fn spawn<F, Fut>(
    name: &'static str,
    schedule: Schedule,
    stats: Arc<JobStats>,
    stop: CancellationToken,
    mut round: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<RoundReport>> + Send,
{
    tokio::spawn(async move {
        if !pause(&schedule, schedule.first_after, &stop).await {
            return;
        }
        loop {
            let report = match round().await {
                Ok(report) => {
                    counted(name, "ok", report);
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
                    report
                }
                Err(e) => {
                    tracing::error!(job = name, error = ?e, "job round failed");
                    counted(name, "error", RoundReport::default());
                    RoundReport::default()
                }
            };
            let full = schedule.batch.is_some_and(|batch| report.scanned >= batch);
            if stop.is_cancelled() || (!full && !pause(&schedule, schedule.every, &stop).await) {
                break;
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
    })
}

/// A round of `job` in the metrics.
fn counted(job: &'static str, outcome: &'static str, report: RoundReport) {
    metrics::counter!("chatmall_job_rounds_total", "job" => job, "outcome" => outcome).increment(1);
    for (result, n) in [
        ("scanned", report.scanned),
        ("fixed", report.fixed),
        ("failed", report.failed),
    ] {
        metrics::counter!("chatmall_job_items_total", "job" => job, "result" => result)
            .increment(n as u64);
    }
}

/// Waits `pause` (or a wake-up); `false` when told to stop.
async fn pause(schedule: &Schedule, pause: Duration, stop: &CancellationToken) -> bool {
    let woken = async {
        match &schedule.wake {
            Some(notify) => notify.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(pause) => true,
        () = woken => true,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_grow_then_cap_and_jitter_within_half() {
        let base = Duration::from_secs(1);
        for attempts in 0..20 {
            let expected = Duration::from_secs((1u64 << attempts.min(10)).min(600));
            let got = retry_after(base, attempts);
            assert!(
                got >= expected && got <= expected + expected / 2,
                "{attempts}: {got:?}"
            );
        }
    }
}
