//! The expiry job (超时关单): an order unpaid at its deadline is queried first (a payment
//! wins), then closed at WeChat, then closed locally. A CREATED order whose prepay never
//! reached WeChat closes locally.

use super::claims::{claim, release, release_failed};
use super::runner::RoundReport;
use crate::jobs::delivery::DeliveryTrigger;
use crate::state::AppShop;
use domain::ports::OrderScan;
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
    let claimed = claim(shop, OrderScan::Expired, settings.lease, settings.batch).await?;
    let mut report = RoundReport {
        scanned: claimed.len(),
        ..RoundReport::default()
    };
    for item in &claimed {
        match shop.expire(&item.order).await {
            Ok(result) => {
                if result == Expired::Payment(Confirmation::Paid) {
                    tracing::info!(order_no = %item.order.order_no, "paid at expiry: delivering instead of closing");
                    delivery.wake();
                }
                report.fixed += 1;
                release(shop, item, shop.clock().now()).await?;
            }
            Err(e) => {
                report.failed += 1;
                release_failed(shop, "expiry", item, settings.retry, &e.to_string()).await?;
            }
        }
    }
    Ok(report)
}
