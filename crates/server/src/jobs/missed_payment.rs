//! The missed-payment job (掉单补偿): a notification may never come (WeChat does not promise
//! it, and the server may have been down), so unpaid orders older than a delay are queried
//! at WeChat. A payment found goes through the same checks as a notification.

use super::runner::{RoundReport, retry_after};
use crate::jobs::delivery::DeliveryTrigger;
use crate::state::AppShop;
use domain::ports::{OrderJobs, OrderScan};
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
    let now = shop.clock().now();
    let scan = OrderScan::Unpaid {
        created_before: now - chrono::Duration::from_std(settings.delay)?,
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
        let outcome = shop.reconcile(&item.order).await;
        let now = shop.clock().now();
        let next = |attempts| {
            now + chrono::Duration::from_std(retry_after(settings.recheck, attempts))
                .unwrap_or_default()
        };
        match outcome {
            Ok(Reconciled::Payment(confirmation)) => {
                tracing::info!(order_no = %no, ?confirmation, "missed payment found by query");
                if confirmation == Confirmation::Paid {
                    delivery.wake();
                }
                report.fixed += 1;
                shop.store().reschedule(no, now, None).await?;
            }
            Ok(Reconciled::ClosedAtChannel) => {
                report.fixed += 1;
                shop.store().reschedule(no, now, None).await?;
            }
            // Unpaid, or never reached WeChat: the expiry job takes it at its deadline.
            Ok(Reconciled::Unpaid | Reconciled::UnknownToChannel | Reconciled::Settled(_)) => {
                let at = next(0).min(item.order.expire_at);
                shop.store().reschedule(no, at, None).await?;
            }
            Err(e) => {
                report.failed += 1;
                let message = e.to_string();
                tracing::warn!(order_no = %no, attempts = item.check_attempts + 1, error = %message, "payment query failed; will retry");
                shop.store()
                    .reschedule(no, next(item.check_attempts + 1), Some(&message))
                    .await?;
            }
        }
    }
    Ok(report)
}
