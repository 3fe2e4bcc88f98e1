//! What every order job does around its own decision: claim due orders by lease, and
//! release each one — as done, or as failed with backoff and the error kept.

use super::runner::retry_after;
use crate::state::AppShop;
use domain::ports::{ClaimedOrder, OrderJobs, OrderScan};
use std::time::Duration;

/// Claims up to `batch` orders that `scan` finds due now, for `lease`.
pub async fn claim(
    shop: &AppShop,
    scan: OrderScan,
    lease: Duration,
    batch: u64,
) -> anyhow::Result<Vec<ClaimedOrder>> {
    let now = shop.clock().now();
    shop.store()
        .claim_orders(scan, now, now + chrono::Duration::from_std(lease)?, batch)
        .await
}

/// Releases an order to be looked at again at `at` (now, for an order that is settled).
pub async fn release(
    shop: &AppShop,
    item: &ClaimedOrder,
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    shop.store()
        .reschedule(&item.order.order_no, at, None)
        .await
}

/// Releases an order whose check failed: retried after `base` doubled per failure (with
/// jitter), the error kept on the order. Returns the failure count.
pub async fn release_failed(
    shop: &AppShop,
    job: &'static str,
    item: &ClaimedOrder,
    base: Duration,
    error: &str,
) -> anyhow::Result<u32> {
    let attempts = item.check_attempts + 1;
    tracing::warn!(job, order_no = %item.order.order_no, attempts, %error, "check failed; will retry");
    let at = shop.clock().now() + chrono::Duration::from_std(retry_after(base, attempts))?;
    shop.store()
        .reschedule(&item.order.order_no, at, Some(error))
        .await?;
    Ok(attempts)
}
