//! The outbox relay: delivers PAID orders from the `order_paid` events written in the
//! payment's own transaction. Woken at once by the notify handler, and polling besides, so
//! an event survives a crash between the commit and the wake-up. Events are claimed by a
//! lease in the database, so several processes can run it side by side; the job runner
//! runs it like every job.

use super::runner::{RoundReport, retry_after};
use crate::state::AppShop;
use domain::ports::{Delivery, Outbox};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Wakes the relay.
#[derive(Clone, Default)]
pub struct DeliveryTrigger(Arc<Notify>);

impl DeliveryTrigger {
    /// Asks the relay to look for due events now.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Settings of the relay.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    pub batch: u64,
    pub lease: Duration,
}

impl DeliveryTrigger {
    /// What the runner waits on between rounds.
    pub fn notify(&self) -> Arc<Notify> {
        self.0.clone()
    }
}

/// One round: claim due events, deliver each, record the outcome (scanned = claimed,
/// fixed = delivered or settled, failed = to be retried with backoff).
pub async fn round(shop: &AppShop, settings: &RelaySettings) -> anyhow::Result<RoundReport> {
    let now = shop.clock().now();
    let lease_until = now + chrono::Duration::from_std(settings.lease)?;
    let events = shop
        .store()
        .claim_due(now, lease_until, settings.batch)
        .await?;
    let mut report = RoundReport {
        scanned: events.len(),
        ..RoundReport::default()
    };
    for event in &events {
        // One failing order never stops the batch: it is retried later with backoff.
        let outcome = shop.deliver(&event.order_no, "delivery").await;
        let store = shop.store();
        let now = shop.clock().now();
        match outcome {
            Ok(Delivery::Delivered(_) | Delivery::AlreadyDelivered) => {
                report.fixed += 1;
                store.complete(event.id, now).await?
            }
            Ok(other) => {
                // An order_paid event for an order that is not PAID cannot be delivered;
                // it is surfaced and completed rather than retried forever.
                tracing::error!(order_no = %event.order_no, outcome = ?other, "order_paid event for an undeliverable order");
                store.complete(event.id, now).await?;
            }
            Err(e) => {
                report.failed += 1;
                let delay = retry_after(Duration::from_secs(1), event.attempts);
                let retry_at = now + chrono::Duration::from_std(delay)?;
                tracing::warn!(order_no = %event.order_no, attempts = event.attempts, error = ?e, %retry_at, "delivery failed; will retry");
                store
                    .retry_later(event.id, &format!("{e:#}"), retry_at)
                    .await?;
            }
        }
    }
    Ok(report)
}
