//! The redelivery sweep (发货补偿): a PAID order that the outbox relay has not delivered
//! after a delay is delivered again here (delivery is idempotent). An order that keeps
//! failing is surfaced: an error log, its last error kept on the order, and the admin
//! listing of troubled orders — not silently retried forever at full speed.

use super::claims::{Checked, ClaimSettings, order_round};
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
    pub claims: ClaimSettings,
}

/// One round.
pub async fn round(shop: &AppShop, settings: &RedeliverySettings) -> anyhow::Result<RoundReport> {
    let paid_before = shop.clock().now() - chrono::Duration::from_std(settings.delay)?;
    let scan = OrderScan::Undelivered { paid_before };
    order_round(shop, "redelivery", scan, &settings.claims, settings.retry, |item| async move {
        let no = &item.order.order_no;
        match shop.deliver(no, "redelivery").await.map_err(|e| format!("{e:#}"))? {
            Delivery::Delivered(_) => {
                tracing::warn!(order_no = %no, "redelivery sweep delivered an order the relay had not");
                Ok(Checked::Fixed)
            }
            _ => Ok(Checked::Unchanged {
                again_at: shop.clock().now(),
            }),
        }
    })
    .await
}
