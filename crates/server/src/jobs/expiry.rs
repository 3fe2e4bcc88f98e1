//! The expiry job (超时关单): an order unpaid at its deadline is queried first (a payment
//! wins), then closed at WeChat, then closed locally. A CREATED order whose prepay never
//! reached WeChat closes locally.

use super::runner::{RoundReport, retry_after};
use crate::jobs::delivery::DeliveryTrigger;
use crate::state::AppShop;
use domain::ports::{OrderJobs, OrderScan};
use domain::service::{Confirmation, Expired};
use std::time::Duration;

/// Settings of the job.
#[derive(Debug, Clone)]
pub struct ExpirySettings {
    /// Base delay before retrying an order whose close failed (doubling per failure).
    pub retry: Duration,
    pub batch: u64,
    pub lease: Duration,
}

/// One round.
pub async fn round(
    shop: &AppShop,
    delivery: &DeliveryTrigger,
    settings: &ExpirySettings,
) -> anyhow::Result<RoundReport> {
    let now = shop.clock().now();
    let claimed = shop
        .store()
        .claim_orders(
            OrderScan::Expired,
            now,
            now + chrono::Duration::from_std(settings.lease)?,
            settings.batch,
        )
        .await?;
    let mut report = RoundReport {
        scanned: claimed.len(),
        ..RoundReport::default()
    };
    for item in claimed {
        let no = &item.order.order_no;
        let outcome = shop.expire(&item.order).await;
        let now = shop.clock().now();
        match outcome {
            Ok(result) => {
                if result == Expired::Payment(Confirmation::Paid) {
                    tracing::info!(order_no = %no, "paid at expiry: delivering instead of closing");
                    delivery.wake();
                }
                report.fixed += 1;
                shop.store().reschedule(no, now, None).await?;
            }
            Err(e) => {
                report.failed += 1;
                let message = e.to_string();
                tracing::warn!(order_no = %no, attempts = item.check_attempts + 1, error = %message, "expiry failed; will retry");
                let at = now
                    + chrono::Duration::from_std(retry_after(
                        settings.retry,
                        item.check_attempts + 1,
                    ))?;
                shop.store().reschedule(no, at, Some(&message)).await?;
            }
        }
    }
    Ok(report)
}
