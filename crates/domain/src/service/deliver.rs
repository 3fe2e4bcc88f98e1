//! Delivery: credit a PAID order's quota, exactly once.

use super::Shop;
use crate::order::{Cause, OrderNo};
use crate::ports::{Delivery, OrderRepository};

impl<S, C> Shop<S, C>
where
    S: OrderRepository,
{
    /// Delivers a PAID order, for `job` (the relay or the sweep). Repeats are harmless
    /// (the store's transaction is conditional and the ledger row unique).
    pub async fn deliver(&self, no: &OrderNo, job: &'static str) -> anyhow::Result<Delivery> {
        let delivery = self
            .store
            .deliver(no, &Cause::Job(job), self.clock.now())
            .await?;
        match &delivery {
            Delivery::Delivered(account) => tracing::info!(
                order_no = %no,
                user = %account.user_id,
                surplus = account.surplus_quota,
                "order delivered"
            ),
            Delivery::AlreadyDelivered => tracing::debug!(order_no = %no, "already delivered"),
            Delivery::NotPaid(status) => {
                tracing::warn!(order_no = %no, %status, "not delivered: not paid")
            }
            Delivery::NotFound => tracing::warn!(order_no = %no, "not delivered: no such order"),
        }
        Ok(delivery)
    }
}
