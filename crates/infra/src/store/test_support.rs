//! Store methods only tests and tools use (the `testing` feature): no flow needs them yet.

use super::entities::{account, ledger, outbox};
use super::{SeaStore, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::account::AccountStatus;
use domain::user::UserId;
use sea_orm::sea_query::Expr;
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

    /// Sets an account's status (freeze or unfreeze); false if the user has no account.
    pub async fn set_account_status(
        &self,
        user: &UserId,
        status: AccountStatus,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        Ok(account::Entity::update_many()
            .col_expr(account::Column::Status, Expr::value(status.as_str()))
            .col_expr(account::Column::UpdatedAt, Expr::value(millis(now)))
            .filter(account::Column::UserId.eq(user.as_str()))
            .exec(self.writer()?)
            .await
            .with_context(|| format!("set the status of account {user}"))?
            .rows_affected
            == 1)
    }
}
