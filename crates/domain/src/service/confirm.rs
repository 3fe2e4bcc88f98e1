//! Payment confirmation: the one path by which a reported payment (a verified notify, or a
//! query's answer) changes an order. Checked against the order, then one conditional
//! transition: repeats and races are harmless.

use super::Shop;
use crate::order::{OrderNo, OrderStatus, PaymentConfirmation};
use crate::ports::{MarkPaid, OrderRepository};

/// What a confirmed payment did to its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// The order moved to PAID now; delivery is owed.
    Paid,
    /// It was already PAID or DELIVERED: nothing changed.
    AlreadyPaid,
    /// The payment does not match the order: it is (or was already) in REVIEW.
    Review(String),
}

/// A payment could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error("the payment names {0:?}, which is not an order of this shop")]
    UnknownOrder(String),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl<S, C> Shop<S, C>
where
    S: OrderRepository,
{
    /// Applies a payment that the channel vouches for.
    pub async fn confirm_payment(
        &self,
        payment: &PaymentConfirmation,
    ) -> Result<Confirmation, ConfirmError> {
        let no = OrderNo::parse(&payment.out_trade_no)
            .map_err(|_| ConfirmError::UnknownOrder(payment.out_trade_no.clone()))?;
        // Two rounds at most: a lost race re-reads the order once and reports what won.
        for _ in 0..2 {
            let order = self
                .store
                .order(&no)
                .await?
                .ok_or_else(|| ConfirmError::UnknownOrder(payment.out_trade_no.clone()))?;
            match order.status {
                OrderStatus::Paid | OrderStatus::Delivered => return Ok(Confirmation::AlreadyPaid),
                OrderStatus::Review => {
                    return Ok(Confirmation::Review(
                        order.review_reason.unwrap_or_default(),
                    ));
                }
                _ => {}
            }
            // Any other state may take payment; the store's conditional write settles races.
            order.pay().map_err(|e| ConfirmError::Store(e.into()))?;
            let now = self.clock.now();
            let review = match payment.check(order.amount, &self.settings.merchant) {
                Err(mismatch) => mismatch.to_string(),
                Ok(()) => match self.store.mark_paid(payment, now).await? {
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
                .mark_review(&no, &review, &payment.transaction_id, now)
                .await?
            {
                return Ok(Confirmation::Review(review));
            }
        }
        Err(ConfirmError::Store(anyhow::anyhow!(
            "order {no} changed twice while its payment was applied"
        )))
    }
}
