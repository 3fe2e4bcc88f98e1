//! Delivery: PAID → DELIVERED and the credit (the one credit path), in one transaction.

use super::credit;
use super::entities::{ledger, order};
use super::history::{Event, record};
use super::orders::{committed, find_order, transition, transition_and_read};
use super::{SeaStore, millis, rollback};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::order::{Cause, OrderNo, OrderStatus, Transition};
use domain::ports::Delivery;
use sea_orm::TransactionTrait;
use sea_orm::sea_query::Expr;

impl SeaStore {
    /// The body of `OrderRepository::deliver`.
    pub(super) async fn deliver_order(
        &self,
        no: &OrderNo,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Delivery> {
        let txn = self
            .writer()?
            .begin()
            .await
            .context("deliver order: begin")?;
        // (1) The transition first: on SQLite the first write takes the database's write
        // lock while busy_timeout still applies; a read-then-write transaction could fail
        // with SQLITE_BUSY instead of waiting.
        let delivered = transition(Transition::DELIVER, no.as_str(), now)
            .col_expr(order::Column::DeliveredAt, Expr::value(millis(now)));
        let Some(order) = transition_and_read(delivered, &txn, no)
            .await
            .with_context(|| format!("deliver order {no}"))?
        else {
            rollback(txn).await;
            return Ok(match find_order(&self.reads, no).await? {
                Some(order) if order.status.is_paid() && order.status != OrderStatus::Paid => {
                    Delivery::AlreadyDelivered
                }
                Some(order) => Delivery::NotPaid(order.status),
                None => Delivery::NotFound,
            });
        };

        // (2) The one credit path: its ledger row is unique by (reason, order), so a
        // second credit of this order cannot commit.
        let credited = credit::credit(
            &txn,
            &credit::Credit {
                user: order.user_id.as_str(),
                quota: i64::from(order.quota),
                models: &order.model_types,
                reason: ledger::REASON_ORDER_DELIVERY,
                reference: no.as_str(),
            },
            now,
        )
        .await
        .with_context(|| format!("deliver order {no}"))?;
        let Some(after) = credited else {
            tracing::warn!(order_no = %no, "ledger already holds this delivery; rolling back");
            rollback(txn).await;
            return Ok(Delivery::AlreadyDelivered);
        };
        let detail =
            serde_json::json!({"quota": order.quota, "surplus_after": after.surplus_quota});
        let delivered = Event::order(
            Transition::DELIVER,
            no.as_str(),
            cause,
            Some(detail.to_string()),
            now,
        );
        record(&txn, delivered)
            .await
            .with_context(|| format!("deliver order {no}: write its history"))?;
        txn.commit()
            .await
            .with_context(|| format!("deliver order {no}: commit"))?;
        committed(Transition::DELIVER, cause);
        Ok(Delivery::Delivered(after))
    }
}
