//! Payment confirmation: the one path by which a reported payment (a verified notify, or a
//! query's answer) changes an order. Checked against the order, then one conditional
//! transition: repeats and races are harmless.

use super::Shop;
use crate::order::{Cause, OrderNo, OrderStatus, PaymentConfirmation, Transition};
use crate::ports::{MarkPaid, OrderRepository, UnmatchedPayments};

/// What a confirmed payment did to its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// The order moved to PAID now; delivery is owed.
    Paid,
    /// It was already PAID or DELIVERED: nothing changed.
    AlreadyPaid,
    /// The payment does not match the order: it is (or was already) in REVIEW.
    Review(String),
    /// The payment names no order of this shop: it is kept with the unmatched payments
    /// (`first_seen`: kept just now, not before), for an operator.
    Unmatched { first_seen: bool },
}

/// A payment could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl<S, C> Shop<S, C>
where
    S: OrderRepository + UnmatchedPayments,
{
    /// Applies a payment that the channel vouches for; `cause` says how it came (a
    /// notification, or a query and who asked), for the order's history, the record of a
    /// payment that names no order, and the metrics (how many payments each path found).
    pub async fn confirm_payment(
        &self,
        payment: &PaymentConfirmation,
        cause: &Cause,
    ) -> Result<Confirmation, ConfirmError> {
        let source = match cause {
            Cause::Notification(_) => "notify",
            Cause::Query(by) => by,
            other => other.kind(),
        };
        let confirmed = self.apply_payment(payment, cause, source).await;
        let outcome = match &confirmed {
            Ok(Confirmation::Paid) => "paid",
            Ok(Confirmation::AlreadyPaid) => "already_paid",
            Ok(Confirmation::Review(_)) => "review",
            Ok(Confirmation::Unmatched { .. }) => "unmatched",
            Err(_) => "error",
        };
        metrics::counter!("chatmall_payments_total", "source" => source, "outcome" => outcome)
            .increment(1);
        confirmed
    }

    async fn apply_payment(
        &self,
        payment: &PaymentConfirmation,
        cause: &Cause,
        source: &str,
    ) -> Result<Confirmation, ConfirmError> {
        let Ok(no) = OrderNo::parse(&payment.out_trade_no) else {
            return self.keep_unmatched(payment, source).await;
        };
        // Two rounds at most: a lost race re-reads the order once and reports what won.
        for _ in 0..2 {
            let Some(order) = self.store.order(&no).await? else {
                return self.keep_unmatched(payment, source).await;
            };
            match order.status {
                status if status.is_paid() => return Ok(Confirmation::AlreadyPaid),
                OrderStatus::Review => {
                    return Ok(Confirmation::Review(
                        order.review_reason.unwrap_or_default(),
                    ));
                }
                _ => {}
            }
            // Any other state may take payment; the store's conditional write settles races.
            Transition::PAY
                .check(order.status)
                .map_err(|e| ConfirmError::Store(e.into()))?;
            let now = self.clock.now();
            let review = match payment.check(order.amount, &self.settings.merchant) {
                Err(mismatch) => mismatch.to_string(),
                Ok(()) => match self.store.mark_paid(payment, cause, now).await? {
                    MarkPaid::Paid => return Ok(Confirmation::Paid),
                    MarkPaid::Unchanged => continue,
                    MarkPaid::TransactionOnAnotherOrder => format!(
                        "transaction {} already pays another order",
                        payment.transaction_id
                    ),
                },
            };
            tracing::warn!(order_no = %no, reason = %review, "payment cannot be applied to its order: REVIEW");
            if self
                .store
                .mark_review(&no, &review, payment, cause, now)
                .await?
            {
                return Ok(Confirmation::Review(review));
            }
        }
        Err(ConfirmError::Store(anyhow::anyhow!(
            "order {no} changed twice while its payment was applied"
        )))
    }

    /// A verified payment for no order of ours is never thrown away: it is kept, and said
    /// once as an error (a repeat is only counted).
    async fn keep_unmatched(
        &self,
        payment: &PaymentConfirmation,
        source: &str,
    ) -> Result<Confirmation, ConfirmError> {
        let first_seen = self
            .store
            .keep_unmatched(payment, source, self.clock.now())
            .await?;
        if first_seen {
            tracing::error!(
                out_trade_no = %payment.out_trade_no,
                transaction_id = %payment.transaction_id,
                total = %payment.total,
                source,
                "a verified payment names no order of this shop: kept in unmatched_payments"
            );
        }
        Ok(Confirmation::Unmatched { first_seen })
    }
}
