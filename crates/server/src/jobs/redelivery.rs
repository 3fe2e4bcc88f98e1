//! The redelivery sweep (发货补偿): a PAID order that the outbox relay has not delivered
//! after a delay is delivered again here (delivery is idempotent). An order that keeps
//! failing is surfaced: an error log, the `troubled` counter, and its last error kept on the
//! order for the admin listing — not silently retried forever at full speed.

use super::runner::{RoundReport, retry_after};
use crate::state::AppShop;
use domain::ports::{Delivery, OrderJobs, OrderScan};
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
    let now = shop.clock().now();
    let scan = OrderScan::Undelivered {
        paid_before: now - chrono::Duration::from_std(settings.delay)?,
    };
    let claimed = shop
        .store()
        .claim_orders(
            scan,
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
        let outcome = shop.deliver(no).await;
        let now = shop.clock().now();
        match outcome {
            Ok(Delivery::Delivered(_)) => {
                tracing::warn!(order_no = %no, "redelivery sweep delivered an order the relay had not");
                report.fixed += 1;
                shop.store().reschedule(no, now, None).await?;
            }
            Ok(Delivery::AlreadyDelivered | Delivery::NotPaid(_) | Delivery::NotFound) => {
                shop.store().reschedule(no, now, None).await?;
            }
            Err(e) => {
                report.failed += 1;
                let attempts = item.check_attempts + 1;
                let message = format!("{e:#}");
                if attempts >= settings.troubled_after {
                    tracing::error!(order_no = %no, attempts, error = %message, "troubled order: delivery keeps failing");
                } else {
                    tracing::warn!(order_no = %no, attempts, error = %message, "redelivery failed; will retry");
                }
                let at = now + chrono::Duration::from_std(retry_after(settings.retry, attempts))?;
                shop.store().reschedule(no, at, Some(&message)).await?;
            }
        }
    }
    Ok(report)
}
