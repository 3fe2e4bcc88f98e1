//! Store methods only tests and tools use (the `testing` feature): no flow needs them yet.

use super::SeaStore;
use super::entities::{ledger, outbox};
use anyhow::Context as _;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

impl SeaStore {
    /// How many ledger rows refer to `order_no` (one after a delivery, whatever repeats).
    pub async fn quota_ledger_rows(&self, order_no: &str) -> anyhow::Result<u64> {
        ledger::Entity::find()
            .filter(ledger::Column::Reference.eq(order_no))
            .count(&self.reads)
            .await
            .with_context(|| format!("count the ledger rows of {order_no}"))
    }

    /// How many outbox events wait to be relayed.
    pub async fn outbox_pending(&self) -> anyhow::Result<u64> {
        outbox::Entity::find()
            .filter(outbox::Column::Status.eq(outbox::STATUS_PENDING))
            .count(&self.reads)
            .await
            .context("count pending outbox events")
    }
}
