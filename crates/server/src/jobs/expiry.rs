//! The expiry job (超时关单): an order unpaid at its deadline is queried first (a payment
//! wins), then closed at WeChat, then closed locally. A CREATED order whose prepay never
//! reached WeChat closes locally.

use super::claims::{Checked, ClaimSettings, order_round};
use super::runner::RoundReport;
use crate::jobs::relay::DeliveryTrigger;
use crate::state::AppShop;
use domain::ports::OrderScan;
use domain::service::{Confirmation, Expired};
use std::time::Duration;

/// Settings of the job.
#[derive(Debug, Clone)]
pub struct ExpirySettings {
    /// Base delay before retrying an order whose close failed (doubling per failure).
    pub retry: Duration,
    pub claims: ClaimSettings,
}

/// One round.
pub async fn round(
    shop: &AppShop,
    delivery: &DeliveryTrigger,
    settings: &ExpirySettings,
) -> anyhow::Result<RoundReport> {
    order_round(shop, "expiry", OrderScan::Expired, &settings.claims, settings.retry, |item| async move {
        let result = shop.expire(&item.order).await.map_err(|e| e.to_string())?;
        if result == Expired::Payment(Confirmation::Paid) {
            tracing::info!(order_no = %item.order.order_no, "paid at expiry: delivering instead of closing");
            delivery.wake();
        }
        Ok(Checked::Fixed)
    })
    .await
}
