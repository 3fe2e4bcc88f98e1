//! The background jobs' port: index-friendly scans, claims by lease, reschedules.
//!
//! Orders are claimed by the one claim mechanism (`claim.rs`): a lease in `lease_until`.

use super::claim::Lease;
use super::entities::order;
use super::orders::to_domain;
use super::{SeaStore, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::order::{OrderNo, OrderStatus};
use domain::ports::{ClaimedOrder, OrderJobs, OrderScan};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};

/// Errors kept on an order are cut to this many characters.
const LAST_ERROR_MAX_CHARS: usize = 1000;

/// The lease columns of `orders`.
const LEASE: Lease<order::Entity> = Lease {
    id: order::Column::Id,
    lease_until: order::Column::LeaseUntil,
    id_of: |row| row.id,
};

/// The scan's predicate, led by the indexed columns (status, then a time).
fn scan(scan: OrderScan, now: DateTime<Utc>) -> Select<order::Entity> {
    let unpaid = [OrderStatus::Created, OrderStatus::PayWait].map(OrderStatus::as_str);
    let due = order::Entity::find().filter(order::Column::NextCheckAt.lte(millis(now)));
    match scan {
        OrderScan::Unpaid { created_before } => due
            .filter(order::Column::Status.is_in(unpaid))
            .filter(order::Column::ExpireAt.gt(millis(now)))
            .filter(order::Column::CreatedAt.lte(millis(created_before)))
            // A CREATED order without an attempt never reached the channel: nothing to ask.
            .filter(
                Condition::any()
                    .add(order::Column::Status.eq(OrderStatus::PayWait.as_str()))
                    .add(order::Column::PrepayAttempts.gt(0)),
            )
            .order_by_asc(order::Column::NextCheckAt),
        OrderScan::Expired => due
            .filter(order::Column::Status.is_in(unpaid))
            .filter(order::Column::ExpireAt.lte(millis(now)))
            .order_by_asc(order::Column::ExpireAt),
        OrderScan::Undelivered { paid_before } => due
            .filter(order::Column::Status.eq(OrderStatus::Paid.as_str()))
            .filter(order::Column::PaidAt.lte(millis(paid_before)))
            .order_by_asc(order::Column::NextCheckAt),
    }
}

fn claimed(row: order::Model) -> anyhow::Result<ClaimedOrder> {
    let check_attempts = u32::try_from(row.check_attempts).unwrap_or(0);
    let last_error = row.last_error.clone();
    Ok(ClaimedOrder {
        order: to_domain(row)?,
        check_attempts,
        last_error,
    })
}

impl OrderJobs for SeaStore {
    async fn claim_orders(
        &self,
        which: OrderScan,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> anyhow::Result<Vec<ClaimedOrder>> {
        self.claim(
            &LEASE,
            scan(which, now),
            now,
            lease_until,
            limit,
            |update| update,
        )
        .await
        .with_context(|| format!("claim orders ({which:?})"))?
        .into_iter()
        .map(claimed)
        .collect()
    }

    async fn reschedule(
        &self,
        no: &OrderNo,
        claimed_in: OrderStatus,
        next_check_at: DateTime<Utc>,
        failure: Option<&str>,
    ) -> anyhow::Result<()> {
        let update = order::Entity::update_many()
            .col_expr(
                order::Column::NextCheckAt,
                Expr::value(millis(next_check_at)),
            )
            .col_expr(order::Column::LeaseUntil, Expr::value(Option::<i64>::None));
        let update = match failure {
            Some(error) => update
                .col_expr(
                    order::Column::CheckAttempts,
                    Expr::col(order::Column::CheckAttempts).add(1),
                )
                .col_expr(
                    order::Column::LastError,
                    Expr::value(error.chars().take(LAST_ERROR_MAX_CHARS).collect::<String>()),
                ),
            None => update.col_expr(order::Column::CheckAttempts, Expr::value(0)),
        };
        update
            .filter(order::Column::OrderNo.eq(no.as_str()))
            .filter(order::Column::Status.eq(claimed_in.as_str()))
            .exec(self.writer()?)
            .await
            .with_context(|| format!("reschedule order {no}"))?;
        Ok(())
    }

    async fn troubled_orders(
        &self,
        min_attempts: u32,
        limit: u64,
    ) -> anyhow::Result<Vec<ClaimedOrder>> {
        let rows = order::Entity::find()
            .filter(
                order::Column::CheckAttempts.gte(i32::try_from(min_attempts).unwrap_or(i32::MAX)),
            )
            .filter(order::Column::Status.is_not_in([
                OrderStatus::Delivered.as_str(),
                OrderStatus::PartlyRefunded.as_str(),
                OrderStatus::Refunded.as_str(),
                OrderStatus::Closed.as_str(),
            ]))
            .order_by_desc(order::Column::CheckAttempts)
            .limit(limit)
            .all(&self.reads)
            .await
            .context("list troubled orders")?;
        rows.into_iter().map(claimed).collect()
    }
}
