//! The refund port: a refund's row and the quota it takes back commit together, and each
//! move is one conditional UPDATE in one transaction with what it implies (the order's
//! refunded money and state on success, the quota back on a close or refusal).

use super::entities::{ledger, order, refund};
use super::history::{Event, record};
use super::orders::{committed, transition};
use super::{
    SeaStore, credit, from_millis, from_millis_opt, is_unique_violation, millis, rollback,
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::money::Fen;
use domain::order::{Cause, OrderNo, Transition};
use domain::ports::{OpenRefund, RefundReport, RefundRepository};
use domain::refund::{Refund, RefundNo, RefundReason, RefundStatus, RefundTransition};
use domain::user::UserId;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

/// A refund's first move in its order's history: it was asked for.
const REFUND_OPENED: &str = "open";

impl RefundRepository for SeaStore {
    async fn refunds_of(&self, order: &OrderNo) -> anyhow::Result<Vec<Refund>> {
        let rows = refund::Entity::find()
            .filter(refund::Column::OrderNo.eq(order.as_str()))
            .order_by_asc(refund::Column::Id)
            .all(self.writer()?)
            .await
            .with_context(|| format!("list the refunds of order {order}"))?;
        rows.into_iter().map(to_domain).collect()
    }

    async fn refund(&self, no: &RefundNo) -> anyhow::Result<Option<Refund>> {
        refund::Entity::find()
            .filter(refund::Column::RefundNo.eq(no.as_str()))
            .one(self.writer()?)
            .await
            .with_context(|| format!("read refund {no}"))?
            .map(to_domain)
            .transpose()
    }

    async fn open_refund(&self, new: &Refund, cause: &Cause) -> anyhow::Result<OpenRefund> {
        let txn = self
            .writer()?
            .begin()
            .await
            .context("open a refund: begin")?;
        let row = refund::ActiveModel {
            id: NotSet,
            refund_no: Set(new.refund_no.to_string()),
            order_no: Set(new.order_no.to_string()),
            user_id: Set(new.user_id.to_string()),
            amount: Set(new.amount.as_i64()),
            quota_back: Set(i64::from(new.quota_back)),
            reason: Set(new.reason.as_str().to_owned()),
            forced: Set(new.forced),
            status: Set(RefundStatus::Requested.as_str().to_owned()),
            requested_by: Set(new.requested_by.clone()),
            channel_refund_id: Set(None),
            channel_report: Set(None),
            created_at: Set(millis(new.created_at)),
            updated_at: Set(millis(new.created_at)),
            ended_at: Set(None),
            next_check_at: Set(millis(new.created_at)),
            lease_until: Set(None),
            check_attempts: Set(0),
            last_error: Set(None),
        };
        match refund::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
        {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                rollback(txn).await;
                return Ok(OpenRefund::NumberTaken);
            }
            Err(e) => return Err(anyhow::Error::new(e).context("store a refund")),
        }
        let taken = credit::debit(
            &txn,
            new.user_id.as_str(),
            i64::from(new.quota_back),
            ledger::REASON_REFUND,
            new.refund_no.as_str(),
            new.created_at,
        )
        .await?;
        if !taken {
            rollback(txn).await;
            return Ok(OpenRefund::QuotaMoved);
        }
        let detail = serde_json::json!({"amount_fen": new.amount.as_i64(),
            "quota_back": new.quota_back, "reason": new.reason.as_str(), "forced": new.forced});
        let opened = Event::refund(
            new.order_no.as_str(),
            new.refund_no.as_str(),
            REFUND_OPENED,
            RefundStatus::Requested,
            cause,
            Some(detail.to_string()),
            new.created_at,
        );
        record(&txn, opened)
            .await
            .context("open a refund: write the order's history")?;
        txn.commit().await.context("open a refund: commit")?;
        Ok(OpenRefund::Opened)
    }

    async fn move_refund(
        &self,
        no: &RefundNo,
        t: RefundTransition,
        report: Option<&RefundReport>,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let txn = self
            .writer()?
            .begin()
            .await
            .context("move a refund: begin")?;
        let ended = matches!(
            t.to,
            RefundStatus::Success | RefundStatus::Closed | RefundStatus::Refused
        );
        let mut update = refund::Entity::update_many()
            .col_expr(refund::Column::Status, Expr::value(t.to.as_str()))
            .col_expr(refund::Column::UpdatedAt, Expr::value(millis(now)))
            .col_expr(refund::Column::NextCheckAt, Expr::value(millis(now)))
            .col_expr(refund::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .col_expr(refund::Column::CheckAttempts, Expr::value(0))
            .filter(refund::Column::RefundNo.eq(no.as_str()))
            .filter(refund::Column::Status.is_in(t.from.iter().map(|s| s.as_str())));
        if ended {
            update = update.col_expr(refund::Column::EndedAt, Expr::value(millis(now)));
        }
        if let Some(report) = report {
            update = update
                .col_expr(
                    refund::Column::ChannelRefundId,
                    Expr::value(report.refund_id.clone()),
                )
                .col_expr(
                    refund::Column::ChannelReport,
                    Expr::value(report.raw.clone()),
                );
        }
        let moved = update
            .exec(&txn)
            .await
            .with_context(|| format!("{} refund {no}", t.name))?;
        if moved.rows_affected != 1 {
            rollback(txn).await;
            return Ok(false);
        }
        let row = refund::Entity::find()
            .filter(refund::Column::RefundNo.eq(no.as_str()))
            .one(&txn)
            .await
            .with_context(|| format!("read refund {no}"))?
            .with_context(|| format!("refund {no} vanished"))?;
        let moved_refund = Event::refund(
            &row.order_no,
            &row.refund_no,
            t.name,
            t.to,
            cause,
            report.map(|r| r.raw.clone()),
            now,
        );
        record(&txn, moved_refund)
            .await
            .with_context(|| format!("{} refund {no}: write the order's history", t.name))?;
        let order_moved = match t.to {
            RefundStatus::Success => add_to_order(&txn, &row, now).await?,
            _ => None,
        };
        if let Some(moved) = order_moved {
            let detail = serde_json::json!({"refund_no": row.refund_no, "amount_fen": row.amount});
            let event = Event::order(moved, &row.order_no, cause, Some(detail.to_string()), now);
            record(&txn, event)
                .await
                .with_context(|| format!("{} refund {no}: write the order's move", t.name))?;
        }
        if t.gives_quota_back() && row.quota_back > 0 {
            credit::credit(
                &txn,
                &credit::Credit {
                    user: &row.user_id,
                    quota: row.quota_back,
                    models: &[],
                    reason: ledger::REASON_REFUND_UNDONE,
                    reference: &row.refund_no,
                },
                now,
            )
            .await
            .with_context(|| format!("give refund {no}'s quota back"))?;
        }
        txn.commit().await.context("move a refund: commit")?;
        metrics::counter!("chatmall_refund_transitions_total", "to" => t.to.as_str()).increment(1);
        if let Some(order_moved) = order_moved {
            committed(order_moved, cause);
        }
        Ok(true)
    }

    async fn refunds_in(&self, status: RefundStatus, limit: u64) -> anyhow::Result<Vec<Refund>> {
        let rows = refund::Entity::find()
            .filter(refund::Column::Status.eq(status.as_str()))
            .order_by_desc(refund::Column::Id)
            .limit(limit)
            .all(&self.reads)
            .await
            .with_context(|| format!("list {status} refunds"))?;
        rows.into_iter().map(to_domain).collect()
    }

    async fn claim_open_refunds(
        &self,
        created_before: DateTime<Utc>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> anyhow::Result<Vec<Refund>> {
        let open = [RefundStatus::Requested, RefundStatus::Processing].map(RefundStatus::as_str);
        let claimable = || {
            Condition::all()
                .add(refund::Column::Status.is_in(open))
                .add(refund::Column::NextCheckAt.lte(millis(now)))
                .add(refund::Column::CreatedAt.lte(millis(created_before)))
                .add(
                    Condition::any()
                        .add(refund::Column::LeaseUntil.is_null())
                        .add(refund::Column::LeaseUntil.lte(millis(now))),
                )
        };
        let candidates = refund::Entity::find()
            .filter(claimable())
            .order_by_asc(refund::Column::NextCheckAt)
            .limit(limit)
            .all(&self.reads)
            .await
            .context("find open refunds")?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for row in candidates {
            // The lease is the claim: of several instances, the one whose UPDATE matched.
            let won = refund::Entity::update_many()
                .col_expr(refund::Column::LeaseUntil, Expr::value(millis(lease_until)))
                .filter(refund::Column::Id.eq(row.id))
                .filter(claimable())
                .exec(self.writer()?)
                .await
                .context("claim a refund")?;
            if won.rows_affected == 1 {
                claimed.push(to_domain(row)?);
            }
        }
        Ok(claimed)
    }

    async fn reschedule_refund(
        &self,
        no: &RefundNo,
        next_check_at: DateTime<Utc>,
        error: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut update = refund::Entity::update_many()
            .col_expr(
                refund::Column::NextCheckAt,
                Expr::value(millis(next_check_at)),
            )
            .col_expr(refund::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(refund::Column::RefundNo.eq(no.as_str()));
        if let Some(error) = error {
            update = update
                .col_expr(
                    refund::Column::CheckAttempts,
                    Expr::col(refund::Column::CheckAttempts).add(1),
                )
                .col_expr(
                    refund::Column::LastError,
                    Expr::value(error.chars().take(500).collect::<String>()),
                );
        }
        update
            .exec(self.writer()?)
            .await
            .with_context(|| format!("reschedule refund {no}"))?;
        Ok(())
    }
}

/// A refund that succeeded: its money is added to the order's refunded money, and the
/// order moves to REFUNDED when nothing is left, else to PARTLY_REFUNDED: the move it made.
async fn add_to_order(
    txn: &DatabaseTransaction,
    row: &refund::Model,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Transition>> {
    let context = || format!("add refund {} to order {}", row.refund_no, row.order_no);
    order::Entity::update_many()
        .col_expr(
            order::Column::RefundedFen,
            Expr::col(order::Column::RefundedFen).add(row.amount),
        )
        .filter(order::Column::OrderNo.eq(row.order_no.as_str()))
        .exec(txn)
        .await
        .with_context(context)?;
    let refunded = Expr::col(order::Column::RefundedFen);
    let all = transition(Transition::REFUND_ALL, &row.order_no, now)
        .filter(refunded.clone().gte(Expr::col(order::Column::Amount)))
        .exec(txn)
        .await
        .with_context(context)?;
    let part = transition(Transition::REFUND_PART, &row.order_no, now)
        .filter(refunded.clone().lt(Expr::col(order::Column::Amount)))
        .exec(txn)
        .await
        .with_context(context)?;
    // A payment under review is measured against what it carried, not the order's price.
    let review = transition(Transition::REFUND_REVIEW, &row.order_no, now)
        .filter(refunded.gte(Expr::col(order::Column::ReviewPaidFen)))
        .exec(txn)
        .await
        .with_context(context)?;
    Ok(
        match (all.rows_affected, part.rows_affected, review.rows_affected) {
            (1, _, _) => Some(Transition::REFUND_ALL),
            (_, 1, _) => Some(Transition::REFUND_PART),
            (_, _, 1) => Some(Transition::REFUND_REVIEW),
            _ => None,
        },
    )
}

/// A stored refund as the domain's.
pub(super) fn to_domain(row: refund::Model) -> anyhow::Result<Refund> {
    let context = || format!("stored refund {}", row.refund_no);
    Ok(Refund {
        refund_no: RefundNo::parse(&row.refund_no).with_context(context)?,
        order_no: OrderNo::parse(&row.order_no).with_context(context)?,
        user_id: UserId::parse(&row.user_id).with_context(context)?,
        amount: Fen::from_i64(row.amount).with_context(context)?,
        quota_back: u32::try_from(row.quota_back).with_context(context)?,
        reason: RefundReason::parse(&row.reason).with_context(context)?,
        forced: row.forced,
        status: RefundStatus::parse(&row.status).with_context(context)?,
        requested_by: row.requested_by,
        channel_refund_id: row.channel_refund_id,
        channel_report: row.channel_report,
        created_at: from_millis(row.created_at)?,
        updated_at: from_millis(row.updated_at)?,
        ended_at: from_millis_opt(row.ended_at)?,
    })
}
