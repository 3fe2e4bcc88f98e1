//! The outbox relay: delivers PAID orders from the `order_paid` events written in the
//! payment's own transaction. Woken at once by the notify handler, and polling besides, so
//! an event survives a crash between the commit and the wake-up. Events are claimed by a
//! lease in the database, so several processes can run it side by side.

use crate::state::AppShop;
use domain::ports::{Delivery, Outbox};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

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
    pub poll: Duration,
    pub batch: u64,
    pub lease: Duration,
}

/// Runs until `stop` is cancelled; a batch in progress is finished first.
pub async fn run(
    shop: AppShop,
    trigger: DeliveryTrigger,
    settings: RelaySettings,
    stop: CancellationToken,
) {
    loop {
        let handled = match relay_once(&shop, &settings).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = ?e, "delivery relay round failed");
                0
            }
        };
        // A full batch means more may be due: go again without waiting.
        if handled as u64 >= settings.batch {
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = trigger.0.notified() => {}
            _ = tokio::time::sleep(settings.poll) => {}
        }
    }
    tracing::info!("delivery relay stopped");
}

/// One round: claim due events, deliver each, record the outcome. Returns how many it claimed.
pub async fn relay_once(shop: &AppShop, settings: &RelaySettings) -> anyhow::Result<usize> {
    let now = shop.clock().now();
    let lease_until = now + chrono::Duration::from_std(settings.lease)?;
    let events = shop
        .store()
        .claim_due(now, lease_until, settings.batch)
        .await?;
    for event in &events {
        // One failing order never stops the batch: it is retried later with backoff.
        let outcome = shop.deliver(&event.order_no).await;
        let store = shop.store();
        let now = shop.clock().now();
        match outcome {
            Ok(Delivery::Delivered(_) | Delivery::AlreadyDelivered) => {
                store.complete(event.id, now).await?
            }
            Ok(other) => {
                // An order_paid event for an order that is not PAID cannot be delivered;
                // it is surfaced and completed rather than retried forever.
                tracing::error!(order_no = %event.order_no, outcome = ?other, "order_paid event for an undeliverable order");
                store.complete(event.id, now).await?;
            }
            Err(e) => {
                let retry_at = now + chrono::Duration::from_std(backoff(event.attempts))?;
                tracing::warn!(order_no = %event.order_no, attempts = event.attempts, error = ?e, %retry_at, "delivery failed; will retry");
                store
                    .retry_later(event.id, &format!("{e:#}"), retry_at)
                    .await?;
            }
        }
    }
    Ok(events.len())
}

/// Exponential backoff with jitter: 1 s, 2 s, 4 s … capped at 10 min, plus up to half again.
pub fn backoff(attempts: u32) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1 << attempts.min(10));
    let capped = base.min(Duration::from_secs(600));
    let jitter = rand::rng().random_range(0..=capped.as_millis() as u64 / 2);
    capped + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps_and_jitters_within_half() {
        for attempts in 0..20 {
            let expected = Duration::from_secs((1u64 << attempts.min(10)).min(600));
            let got = backoff(attempts);
            assert!(
                got >= expected && got <= expected + expected / 2,
                "{attempts}: {got:?}"
            );
        }
    }
}
