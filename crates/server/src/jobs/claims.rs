//! What every order job does around its own decision: claim due orders by lease, check
//! each, and release it — settled, to be looked at again, or failed with backoff and the
//! error kept (an order failing again and again is logged as troubled).

use super::runner::{RoundReport, retry_after};
use crate::state::AppShop;
use chrono::{DateTime, Utc};
use domain::ports::{ClaimedOrder, OrderJobs, OrderScan};
use std::time::Duration;

/// How every order job claims and retries.
#[derive(Debug, Clone, Copy)]
pub struct ClaimSettings {
    pub batch: u64,
    pub lease: Duration,
    /// Failures after which an order is reported as troubled.
    pub troubled_after: u32,
}

/// What a job's check made of one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Brought to a final or corrected state.
    Fixed,
    /// Nothing to change now; look again at this time.
    Unchanged { again_at: DateTime<Utc> },
}

/// One round of an order job: claims the orders `scan` finds due and runs `check` on
/// each; a failed check is retried after `retry` doubled per failure.
pub async fn order_round<F, Fut>(
    shop: &AppShop,
    job: &'static str,
    scan: OrderScan,
    settings: &ClaimSettings,
    retry: Duration,
    mut check: F,
) -> anyhow::Result<RoundReport>
where
    F: FnMut(ClaimedOrder) -> Fut,
    Fut: std::future::Future<Output = Result<Checked, String>>,
{
    let now = shop.clock().now();
    let lease_until = now + chrono::Duration::from_std(settings.lease)?;
    let claimed = shop
        .store()
        .claim_orders(scan, now, lease_until, settings.batch)
        .await?;
    let mut report = RoundReport {
        scanned: claimed.len(),
        ..RoundReport::default()
    };
    for item in &claimed {
        let no = &item.order.order_no;
        let status = item.order.status;
        // One failing order never stops the round: it is retried later with backoff.
        match check(item.clone()).await {
            Ok(Checked::Fixed) => {
                report.fixed += 1;
                shop.store()
                    .reschedule(no, status, shop.clock().now(), None)
                    .await?;
            }
            Ok(Checked::Unchanged { again_at }) => {
                shop.store().reschedule(no, status, again_at, None).await?;
            }
            Err(error) => {
                report.failed += 1;
                let attempts = item.check_attempts + 1;
                tracing::warn!(job, order_no = %no, attempts, %error, "check failed; will retry");
                let at =
                    shop.clock().now() + chrono::Duration::from_std(retry_after(retry, attempts))?;
                shop.store()
                    .reschedule(no, status, at, Some(&error))
                    .await?;
                if attempts >= settings.troubled_after {
                    tracing::error!(job, order_no = %no, attempts, "troubled order: its check keeps failing");
                }
            }
        }
    }
    Ok(report)
}
