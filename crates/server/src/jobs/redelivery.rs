//! The redelivery sweep (发货补偿): a PAID order that the outbox relay has not delivered
//! after a delay is delivered again here (delivery is idempotent). An order that keeps
//! failing is surfaced: an error log, its last error kept on the order, and the admin
//! listing of troubled orders — not silently retried forever at full speed.

use super::claims::{claim, release, release_failed};
use super::runner::RoundReport;
use crate::state::AppShop;
use domain::ports::{Delivery, OrderScan};
use std::time::Duration;

/// Settings of the sweep.
#[derive(Debug, Clone)]
pub struct RedeliverySettings {
    /// PAID orders older than this (since payment) are delivered again.
    pub delay: Duration,
    /// Base delay before retrying a failed delivery (doubling per failure, capped).
    pub retry: Duration,
    pub batch: u64,
    pub lease: Duration,
    /// Failures after which an order is reported as troubled.
    pub troubled_after: u32,
}

/// One round.
pub async fn round(shop: &AppShop, settings: &RedeliverySettings) -> anyhow::Result<RoundReport> {
    let paid_before = shop.clock().now() - chrono::Duration::from_std(settings.delay)?;
    let claimed = claim(
        shop,
        OrderScan::Undelivered { paid_before },
        settings.lease,
        settings.batch,
    )
    .await?;
    let mut report = RoundReport {
        scanned: claimed.len(),
        ..RoundReport::default()
    };
    for item in &claimed {
        let no = &item.order.order_no;
        match shop.deliver(no).await {
            Ok(delivery) => {
                if matches!(delivery, Delivery::Delivered(_)) {
                    tracing::warn!(order_no = %no, "redelivery sweep delivered an order the relay had not");
                    report.fixed += 1;
                }
                release(shop, item, shop.clock().now()).await?;
            }
            Err(e) => {
                report.failed += 1;
                let attempts =
                    release_failed(shop, "redelivery", item, settings.retry, &format!("{e:#}"))
                        .await?;
                if attempts >= settings.troubled_after {
                    tracing::error!(order_no = %no, attempts, "troubled order: delivery keeps failing");
                }
            }
        }
    }
    Ok(report)
}
