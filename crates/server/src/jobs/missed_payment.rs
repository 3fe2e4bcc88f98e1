//! The missed-payment job (掉单补偿): a notification may never come (WeChat does not promise
//! it, and the server may have been down), so unpaid orders older than a delay are queried
//! at WeChat. A payment found goes through the same checks as a notification.

use super::claims::{Checked, ClaimSettings, order_round};
use super::runner::{RoundReport, retry_after};
use crate::jobs::relay::DeliveryTrigger;
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
    pub claims: ClaimSettings,
}

/// One round.
pub async fn round(
    shop: &AppShop,
    delivery: &DeliveryTrigger,
    settings: &MissedPaymentSettings,
) -> anyhow::Result<RoundReport> {
    let created_before = shop.clock().now() - chrono::Duration::from_std(settings.delay)?;
    let scan = OrderScan::Unpaid { created_before };
    order_round(shop, "missed_payment", scan, &settings.claims, settings.recheck, |item| async move {
        match shop.reconcile(&item.order, "missed_payment").await.map_err(|e| e.to_string())? {
            Reconciled::Payment(confirmation) => {
                tracing::info!(order_no = %item.order.order_no, ?confirmation, "missed payment found by query");
                if confirmation == Confirmation::Paid {
                    delivery.wake();
                }
                Ok(Checked::Fixed)
            }
            Reconciled::ClosedAtChannel => Ok(Checked::Fixed),
            // Unpaid, or never reached WeChat: ask again later; expiry takes it at its deadline.
            Reconciled::Unpaid | Reconciled::UnknownToChannel | Reconciled::Settled(_) => {
                let again = shop.clock().now()
                    + chrono::Duration::from_std(retry_after(settings.recheck, 0))
                        .map_err(|e| e.to_string())?;
                Ok(Checked::Unchanged {
                    again_at: again.min(item.order.expire_at),
                })
            }
        }
    })
    .await
}
