//! The outbox port, read by the relay. Events are claimed by the one claim mechanism
//! (`claim.rs`), so several relays never handle the same event at once.

use super::claim::Lease;
use super::entities::outbox;
use super::{SeaStore, from_millis, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::order::OrderNo;
use domain::ports::{Outbox, OutboxEvent};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// Stored errors are cut to this many characters.
const MAX_ERROR_CHARS: usize = 1000;

impl Outbox for SeaStore {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> anyhow::Result<Vec<OutboxEvent>> {
        let due = outbox::Entity::find()
            .filter(outbox::Column::Status.eq(outbox::STATUS_PENDING))
            .filter(outbox::Column::NextAttemptAt.lte(millis(now)))
            .order_by_asc(outbox::Column::Id);
        // The claim counts the attempt.
        let attempt = |update: sea_orm::UpdateMany<outbox::Entity>| {
            update.col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
        };
        self.claim(&LEASE, due, now, lease_until, limit, attempt)
            .await
            .context("claim due outbox events")?
            .into_iter()
            .map(to_event)
            .collect()
    }

    async fn complete(&self, id: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(outbox::STATUS_DONE))
            .col_expr(outbox::Column::DoneAt, Expr::value(millis(now)))
            .col_expr(outbox::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(outbox::Column::Id.eq(id))
            .exec(self.writer()?)
            .await
            .with_context(|| format!("complete outbox event {id}"))?;
        Ok(())
    }

    async fn retry_later(
        &self,
        id: i64,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        outbox::Entity::update_many()
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(millis(retry_at)))
            .col_expr(outbox::Column::LastError, Expr::value(error))
            .col_expr(outbox::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::Status.eq(outbox::STATUS_PENDING))
            .exec(self.writer()?)
            .await
            .with_context(|| format!("reschedule outbox event {id}"))?;
        Ok(())
    }
}

/// The lease columns of `outbox`.
const LEASE: Lease<outbox::Entity> = Lease {
    id: outbox::Column::Id,
    lease_until: outbox::Column::LeaseUntil,
    id_of: |row| row.id,
};

/// A claimed row as the event handed to the relay (the claim counted its attempt).
fn to_event(row: outbox::Model) -> anyhow::Result<OutboxEvent> {
    Ok(OutboxEvent {
        order_no: OrderNo::parse(&row.order_no)
            .with_context(|| format!("outbox event {}", row.id))?,
        attempts: u32::try_from(row.attempts).unwrap_or_default(),
        created_at: from_millis(row.created_at)?,
        id: row.id,
        kind: row.kind,
    })
}
