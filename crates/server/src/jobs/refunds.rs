//! The refund job: a refund whose outcome the channel has not told us (its request timed
//! out, its notification never came) is asked about once it is older than a delay; one the
//! channel never saw is sent again with the same number. What the channel says goes through
//! the one path a notification takes (`Shop::apply_refund_report`).

use super::runner::{RoundReport, retry_after};
use crate::state::AppShop;
use domain::ports::RefundRepository;
use domain::service::RefundApplied;
use std::time::Duration;

/// Settings of the job.
#[derive(Debug, Clone)]
pub struct RefundJobSettings {
    /// Refunds older than this are asked about.
    pub delay: Duration,
    /// How soon a refund still open is asked about again (doubling per failure).
    pub recheck: Duration,
    pub batch: u64,
    pub lease: Duration,
}

/// One round.
pub async fn round(shop: &AppShop, settings: &RefundJobSettings) -> anyhow::Result<RoundReport> {
    let now = shop.clock().now();
    let store = shop.store();
    let claimed = store
        .claim_open_refunds(
            now - chrono::Duration::from_std(settings.delay)?,
            now,
            now + chrono::Duration::from_std(settings.lease)?,
            settings.batch,
        )
        .await?;
    let mut report = RoundReport {
        scanned: claimed.len(),
        ..RoundReport::default()
    };
    for refund in claimed {
        // A refund that moved was given a fresh schedule by its move; one still open is
        // looked at again later, sooner after a success than after a failure.
        let (again, error) = match shop.recheck_refund(&refund, "refunds").await {
            Ok(RefundApplied::Moved(_)) => {
                report.fixed += 1;
                continue;
            }
            // Still open: asked about again sooner while young, then less often (a refund
            // to a bank card takes days), at most hourly.
            Ok(_) => (
                still_open_gap(settings.recheck, now - refund.created_at),
                None,
            ),
            Err(e) => {
                report.failed += 1;
                tracing::warn!(refund_no = %refund.refund_no, error = %e, "refund check failed; will retry");
                (retry_after(settings.recheck, 1), Some(format!("{e:#}")))
            }
        };
        let next = shop.clock().now() + chrono::Duration::from_std(again)?;
        store
            .reschedule_refund(&refund.refund_no, next, error.as_deref())
            .await?;
    }
    Ok(report)
}

/// When to ask again about a refund still open at `age`: a tenth of its age, at least
/// `recheck` and at most an hour.
fn still_open_gap(recheck: Duration, age: chrono::Duration) -> Duration {
    let tenth = age.to_std().unwrap_or_default() / 10;
    tenth.clamp(recheck, Duration::from_secs(3600).max(recheck))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_refund_is_asked_about_less_often_as_it_ages() {
        let recheck = Duration::from_secs(10);
        let at = |secs: i64| still_open_gap(recheck, chrono::Duration::seconds(secs));
        assert_eq!(at(5), recheck);
        assert_eq!(at(600), Duration::from_secs(60));
        assert_eq!(at(86_400 * 2), Duration::from_secs(3600));
        assert_eq!(at(-5), recheck, "a clock that went back");
    }
}
