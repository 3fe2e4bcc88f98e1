//! Reconciliation against the channel's statement (对账), DESIGN.md §7: every payment and
//! refund of a Beijing-time day on the statement against our books, and ours against it. A
//! payment only the channel knew is confirmed through the normal confirm path (after a
//! verified query: the statement file itself is not signed); a refund of ours still open
//! that the statement shows is asked about and settled; everything else is listed.

use super::{Confirmation, RefundApplied, Shop};
use crate::order::{Cause, OrderNo, OrderStatus};
use crate::ports::{
    AccountRepository, Books, ChannelError, OrderRepository, PaymentChannel, PaymentState,
    RefundRepository, UnmatchedPayments,
};
use crate::reconciliation::{Difference, ReconciliationReport, day_bounds};
use crate::refund::{RefundNo, RefundStatus};
use chrono::NaiveDate;
use std::collections::HashSet;

/// Why a day could not be reconciled (nothing was stored).
#[derive(Debug, thiserror::Error)]
pub enum BooksError {
    /// The channel gave no statement we can trust (not ready yet, or its hash failed).
    #[error("no statement from the payment channel: {0}")]
    Channel(ChannelError),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl From<super::ConfirmError> for BooksError {
    fn from(e: super::ConfirmError) -> Self {
        match e {
            super::ConfirmError::Store(e) => Self::Store(e),
        }
    }
}

impl<S, C> Shop<S, C>
where
    S: OrderRepository + UnmatchedPayments + RefundRepository + AccountRepository + Books,
    C: PaymentChannel,
{
    /// Reconciles `date` and stores the report (a second run replaces the first).
    pub async fn reconcile_day(&self, date: NaiveDate) -> Result<ReconciliationReport, BooksError> {
        let statement = self
            .channel
            .statement(date)
            .await
            .map_err(BooksError::Channel)?;
        let mut differences = Vec::new();
        let (mut confirmed, mut refunds_settled) = (0, 0);
        let listed =
            |kind: &str, order_no: &str, refund_no: Option<&str>, detail: String| Difference {
                kind: kind.to_owned(),
                order_no: Some(order_no.to_owned()),
                refund_no: refund_no.map(str::to_owned),
                detail,
                action: Difference::LISTED.to_owned(),
            };

        for paid in &statement.payments {
            let order = match OrderNo::parse(&paid.out_trade_no) {
                Ok(no) => self.store.order(&no).await?,
                Err(_) => None,
            };
            let Some(order) = order else {
                differences.push(listed(
                    "unknown_here",
                    &paid.out_trade_no,
                    None,
                    format!(
                        "paid at the channel ({} fen), no such order here: {}",
                        paid.total.fen(),
                        paid.raw
                    ),
                ));
                continue;
            };
            if !order.status.is_paid() && order.status != OrderStatus::Review {
                // Paid there, not here: the verified query decides, through the one
                // confirm path (delivery follows the order_paid event).
                match self.channel.query(&order.order_no).await {
                    Ok(PaymentState::Paid(payment)) => {
                        let outcome = self.confirm_payment(&payment, &Cause::Query("reconciliation")).await?;
                        let action = if outcome == Confirmation::Paid {
                            confirmed += 1;
                            Difference::CONFIRMED
                        } else {
                            Difference::LISTED
                        };
                        differences.push(Difference {
                            kind: "paid_there_not_here".to_owned(),
                            order_no: Some(order.order_no.to_string()),
                            refund_no: None,
                            detail: format!("the order was {} here; the query said paid: {outcome:?}", order.status),
                            action: action.to_owned(),
                        });
                    }
                    other => differences.push(listed(
                        "paid_there_not_here",
                        order.order_no.as_str(),
                        None,
                        format!("the statement lists it paid; the order is {} here and the query said {other:?}", order.status),
                    )),
                }
                continue;
            }
            if order.status == OrderStatus::Review {
                differences.push(listed(
                    "in_review_here",
                    order.order_no.as_str(),
                    None,
                    format!(
                        "paid at the channel; in REVIEW here: {}",
                        order.review_reason.clone().unwrap_or_default()
                    ),
                ));
            }
            if paid.total != order.amount {
                differences.push(listed(
                    "amount_differs",
                    order.order_no.as_str(),
                    None,
                    format!(
                        "the statement says {} fen, the order {} fen",
                        paid.total.fen(),
                        order.amount.fen()
                    ),
                ));
            }
            if order
                .transaction_id
                .as_ref()
                .is_some_and(|t| t.as_str() != paid.transaction_id)
            {
                differences.push(listed(
                    "transaction_differs",
                    order.order_no.as_str(),
                    None,
                    format!("the statement names transaction {}", paid.transaction_id),
                ));
            }
        }

        for listed_refund in &statement.refunds {
            let ours = match RefundNo::parse(&listed_refund.out_refund_no) {
                Ok(no) => self.store.refund(&no).await?,
                Err(_) => None,
            };
            let Some(ours) = ours else {
                differences.push(listed(
                    "unknown_refund",
                    &listed_refund.out_trade_no,
                    Some(&listed_refund.out_refund_no),
                    format!(
                        "refunded at the channel ({} fen), no such refund here",
                        listed_refund.amount.fen()
                    ),
                ));
                continue;
            };
            if listed_refund.amount != ours.amount {
                differences.push(listed(
                    "refund_amount_differs",
                    ours.order_no.as_str(),
                    Some(ours.refund_no.as_str()),
                    format!(
                        "the statement says {} fen, ours {} fen",
                        listed_refund.amount.fen(),
                        ours.amount.fen()
                    ),
                ));
                continue;
            }
            // Both still in progress agree (the statement's status is a snapshot); an open
            // or ABNORMAL refund of ours that the statement shows moved on is asked about.
            let may_have_moved = ours.status.is_open() || ours.status == RefundStatus::Abnormal;
            if may_have_moved
                && listed_refund.status != "PROCESSING"
                && listed_refund.status != ours.status.as_str()
            {
                let applied = self.recheck_refund(&ours, "reconciliation").await?;
                let settled = matches!(applied, RefundApplied::Moved(status) if !status.is_open());
                refunds_settled += u64::from(settled);
                differences.push(Difference {
                    kind: "refund_open_here".to_owned(),
                    order_no: Some(ours.order_no.to_string()),
                    refund_no: Some(ours.refund_no.to_string()),
                    detail: format!(
                        "open here, {} on the statement; asked: {applied:?}",
                        listed_refund.status
                    ),
                    action: if settled {
                        Difference::SETTLED
                    } else {
                        Difference::LISTED
                    }
                    .to_owned(),
                });
            } else if matches!(ours.status, RefundStatus::Closed | RefundStatus::Refused)
                && listed_refund.status == "SUCCESS"
            {
                differences.push(listed(
                    "refund_state_differs",
                    ours.order_no.as_str(),
                    Some(ours.refund_no.as_str()),
                    format!("{} here, SUCCESS on the statement", ours.status),
                ));
            }
        }

        // Ours against the statement: each payment and accepted refund of the day must be on it.
        let (from, to) = day_bounds(date);
        let paid_here = self.store.orders_paid_between(from, to).await?;
        let on_statement: HashSet<&str> = statement
            .payments
            .iter()
            .map(|p| p.out_trade_no.as_str())
            .collect();
        for order in &paid_here {
            if !on_statement.contains(order.order_no.as_str()) {
                differences.push(listed(
                    "missing_there",
                    order.order_no.as_str(),
                    None,
                    format!(
                        "paid here ({}, {} fen); not on the statement",
                        order.status,
                        order.amount.fen()
                    ),
                ));
            }
        }
        let refunds_here: Vec<_> = self
            .store
            .refunds_created_between(from, to)
            .await?
            .into_iter()
            .filter(|r| r.status != RefundStatus::Refused)
            .collect();
        let refunds_listed: HashSet<&str> = statement
            .refunds
            .iter()
            .map(|r| r.out_refund_no.as_str())
            .collect();
        for refund in &refunds_here {
            if !refunds_listed.contains(refund.refund_no.as_str()) {
                differences.push(listed(
                    "refund_missing_there",
                    refund.order_no.as_str(),
                    Some(refund.refund_no.as_str()),
                    format!(
                        "{} here ({} fen); not on the statement",
                        refund.status,
                        refund.amount.fen()
                    ),
                ));
            }
        }
        let our_paid_fen = paid_here.iter().map(|o| o.amount.as_i64()).sum::<i64>();
        let our_refunded_fen = refunds_here.iter().map(|r| r.amount.as_i64()).sum::<i64>();
        if (our_paid_fen, our_refunded_fen) != (statement.paid_total, statement.refunded_total) {
            differences.push(Difference {
                kind: "totals_differ".to_owned(),
                order_no: None,
                refund_no: None,
                detail: format!(
                    "the statement's totals are {} fen paid, {} fen refunded; ours {our_paid_fen} and {our_refunded_fen}",
                    statement.paid_total, statement.refunded_total
                ),
                action: Difference::LISTED.to_owned(),
            });
        }
        let report = ReconciliationReport {
            date,
            // Whole milliseconds, as stored: the report served later is this one.
            run_at: chrono::SubsecRound::trunc_subsecs(self.clock.now(), 3),
            statement_payments: statement.payments.len() as u64,
            statement_paid_fen: statement.paid_total,
            statement_refunds: statement.refunds.len() as u64,
            statement_refunded_fen: statement.refunded_total,
            our_payments: paid_here.len() as u64,
            our_paid_fen,
            our_refunds: refunds_here.len() as u64,
            our_refunded_fen,
            confirmed,
            refunds_settled,
            differences,
        };
        self.store.save_report(&report).await?;
        if report.agrees() {
            tracing::info!(%date, payments = report.statement_payments, refunds = report.statement_refunds, confirmed, "reconciled: the books agree");
        } else {
            tracing::error!(%date, differences = report.differences.len(), "reconciled: differences for an operator");
        }
        Ok(report)
    }
}
