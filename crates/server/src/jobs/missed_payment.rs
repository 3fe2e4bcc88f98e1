//! The missed-payment job (掉单补偿): a notification may never come (WeChat does not promise
//! it, and the server may have been down), so unpaid orders older than a delay are queried
//! at WeChat. A payment found goes through the same checks as a notification.

use super::claims::{claim, release, release_failed};
use super::runner::{RoundReport, retry_after};
use crate::jobs::delivery::DeliveryTrigger;
use crate::state::AppShop;
use domain::ports::OrderScan;
use domain::service::{Confirmation, Reconciled};
use std::time::Duration;

/// Settings of the job.
#[derive(Debug, Clone)]
pub struct MissedPaymentSettings {
    /// Orders older than this are queried.
    pub delay: Duration,
    /// How soon an order still unpaid is queried again (doubling per failure).
    pub recheck: Duration,
    pub batch: u64,
    pub lease: Duration,
}

/// One round.
pub async fn round(
    shop: &AppShop,
    delivery: &DeliveryTrigger,
    settings: &MissedPaymentSettings,
) -> anyhow::Result<RoundReport> {
    let created_before = shop.clock().now() - chrono::Duration::from_std(settings.delay)?;
    let claimed = claim(
        shop,
        OrderScan::Unpaid { created_before },
        settings.lease,
        settings.batch,
    )
    .await?;
    let mut report = RoundReport {
        scanned: claimed.len(),
        ..RoundReport::default()
    };
    for item in &claimed {
        let outcome = shop.reconcile(&item.order).await;
        let now = shop.clock().now();
        match outcome {
            Ok(Reconciled::Payment(confirmation)) => {
                tracing::info!(order_no = %item.order.order_no, ?confirmation, "missed payment found by query");
                if confirmation == Confirmation::Paid {
                    delivery.wake();
                }
                report.fixed += 1;
                release(shop, item, now).await?;
            }
            Ok(Reconciled::ClosedAtChannel) => {
                report.fixed += 1;
                release(shop, item, now).await?;
            }
            // Unpaid, or never reached WeChat: ask again later; expiry takes it at its deadline.
            Ok(Reconciled::Unpaid | Reconciled::UnknownToChannel | Reconciled::Settled(_)) => {
                let again = now + chrono::Duration::from_std(retry_after(settings.recheck, 0))?;
                release(shop, item, again.min(item.order.expire_at)).await?;
            }
            Err(e) => {
                report.failed += 1;
                release_failed(
                    shop,
                    "missed_payment",
                    item,
                    settings.recheck,
                    &e.to_string(),
                )
                .await?;
            }
        }
    }
    Ok(report)
}
