//! The books port: the day scans reconciliation reads, and its reports (one per day; a
//! second run replaces the first).

use super::entities::{order, reconciliation, refund};
use super::{SeaStore, from_millis, millis, orders, refunds};
use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use domain::order::Order;
use domain::ports::Books;
use domain::reconciliation::{Difference, ReconciliationReport};
use domain::refund::Refund;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};

/// A difference as stored in `reconciliations.differences`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredDifference {
    kind: String,
    order_no: Option<String>,
    refund_no: Option<String>,
    detail: String,
    action: String,
}

impl Books for SeaStore {
    async fn orders_paid_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Order>> {
        let rows = order::Entity::find()
            .filter(order::Column::PaidAt.gte(millis(from)))
            .filter(order::Column::PaidAt.lt(millis(to)))
            .order_by_asc(order::Column::PaidAt)
            .all(&self.reads)
            .await
            .context("list the day's paid orders")?;
        rows.into_iter().map(orders::to_domain).collect()
    }

    async fn refunds_created_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Refund>> {
        let rows = refund::Entity::find()
            .filter(refund::Column::CreatedAt.gte(millis(from)))
            .filter(refund::Column::CreatedAt.lt(millis(to)))
            .order_by_asc(refund::Column::Id)
            .all(&self.reads)
            .await
            .context("list the day's refunds")?;
        rows.into_iter().map(refunds::to_domain).collect()
    }

    async fn save_report(&self, report: &ReconciliationReport) -> anyhow::Result<()> {
        let differences: Vec<StoredDifference> = report
            .differences
            .iter()
            .map(|d| StoredDifference {
                kind: d.kind.clone(),
                order_no: d.order_no.clone(),
                refund_no: d.refund_no.clone(),
                detail: d.detail.clone(),
                action: d.action.clone(),
            })
            .collect();
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let row = reconciliation::ActiveModel {
            id: NotSet,
            bill_date: Set(report.date.to_string()),
            run_at: Set(millis(report.run_at)),
            statement_payments: Set(count(report.statement_payments)),
            statement_paid_fen: Set(report.statement_paid_fen),
            statement_refunds: Set(count(report.statement_refunds)),
            statement_refunded_fen: Set(report.statement_refunded_fen),
            our_payments: Set(count(report.our_payments)),
            our_paid_fen: Set(report.our_paid_fen),
            our_refunds: Set(count(report.our_refunds)),
            our_refunded_fen: Set(report.our_refunded_fen),
            confirmed: Set(count(report.confirmed)),
            refunds_settled: Set(count(report.refunds_settled)),
            differences: Set(serde_json::to_string(&differences).expect("differences serialise")),
        };
        use reconciliation::Column as C;
        let replace = OnConflict::column(C::BillDate)
            .update_columns([
                C::RunAt,
                C::StatementPayments,
                C::StatementPaidFen,
                C::StatementRefunds,
                C::StatementRefundedFen,
                C::OurPayments,
                C::OurPaidFen,
                C::OurRefunds,
                C::OurRefundedFen,
                C::Confirmed,
                C::RefundsSettled,
                C::Differences,
            ])
            .to_owned();
        reconciliation::Entity::insert(row)
            .on_conflict(replace)
            .exec_without_returning(self.writer()?)
            .await
            .with_context(|| format!("store the reconciliation of {}", report.date))?;
        Ok(())
    }

    async fn report(&self, date: NaiveDate) -> anyhow::Result<Option<ReconciliationReport>> {
        let Some(row) = reconciliation::Entity::find()
            .filter(reconciliation::Column::BillDate.eq(date.to_string()))
            .one(self.writer()?)
            .await
            .with_context(|| format!("read the reconciliation of {date}"))?
        else {
            return Ok(None);
        };
        let differences: Vec<StoredDifference> = serde_json::from_str(&row.differences)
            .with_context(|| format!("the stored differences of {date}"))?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(Some(ReconciliationReport {
            date,
            run_at: from_millis(row.run_at)?,
            statement_payments: count(row.statement_payments),
            statement_paid_fen: row.statement_paid_fen,
            statement_refunds: count(row.statement_refunds),
            statement_refunded_fen: row.statement_refunded_fen,
            our_payments: count(row.our_payments),
            our_paid_fen: row.our_paid_fen,
            our_refunds: count(row.our_refunds),
            our_refunded_fen: row.our_refunded_fen,
            confirmed: count(row.confirmed),
            refunds_settled: count(row.refunds_settled),
            differences: differences
                .into_iter()
                .map(|d| Difference {
                    kind: d.kind,
                    order_no: d.order_no,
                    refund_no: d.refund_no,
                    detail: d.detail,
                    action: d.action,
                })
                .collect(),
        }))
    }
}
