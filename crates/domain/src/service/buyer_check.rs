//! "I have paid" (用户主动查单): the buyer asks for their unpaid order to be checked with the
//! channel now, instead of waiting for the notification or the missed-payment job. The check
//! is the compensation's own ([`Shop::reconcile`]), so a payment found takes the path a
//! notification takes. An order is checked at most once per `buyer_check_gap`, counted in
//! the store so that every instance keeps the one limit.

use super::{ReconcileError, Reconciled, Shop};
use crate::order::{Order, OrderNo};
use crate::ports::{ChannelError, OrderRepository, PaymentChannel, UnmatchedPayments};
use crate::user::UserId;
use chrono::Duration;

/// What the buyer's check found, and the order after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyerCheck {
    pub found: Reconciled,
    pub order: Order,
}

/// Why the buyer's check was not made.
#[derive(Debug, thiserror::Error)]
pub enum BuyerCheckError {
    /// No such order, or someone else's (which is not said: no probing of numbers).
    #[error("no order {0}")]
    NotFound(OrderNo),
    /// The order was checked moments ago.
    #[error("order {no} was checked moments ago; try again in {} s", retry_after.num_seconds())]
    TooSoon { no: OrderNo, retry_after: Duration },
    /// The channel did not answer: nothing changed.
    #[error("WeChat Pay did not answer the check: {0}")]
    Channel(ChannelError),
    #[error(transparent)]
    Store(anyhow::Error),
}

impl From<ReconcileError> for BuyerCheckError {
    fn from(e: ReconcileError) -> Self {
        match e {
            ReconcileError::Channel(e) => Self::Channel(e),
            ReconcileError::Confirm(super::ConfirmError::Store(e)) | ReconcileError::Store(e) => {
                Self::Store(e)
            }
        }
    }
}

impl<S, C> Shop<S, C>
where
    S: OrderRepository + UnmatchedPayments,
    C: PaymentChannel,
{
    /// Checks `user`'s order `no` with the channel now. An order that is no longer unpaid
    /// is reported as it is, without asking the channel (nor counting against the limit).
    pub async fn check_for_buyer(
        &self,
        user: &UserId,
        no: &OrderNo,
    ) -> Result<BuyerCheck, BuyerCheckError> {
        let order = match self.store.order(no).await.map_err(BuyerCheckError::Store)? {
            Some(order) if &order.user_id == user => order,
            _ => return Err(BuyerCheckError::NotFound(no.clone())),
        };
        if !order.status.is_unpaid() {
            return Ok(BuyerCheck {
                found: Reconciled::Settled(order.status),
                order,
            });
        }
        let gap = self.settings.buyer_check_gap;
        let now = self.clock.now();
        if !self
            .store
            .note_buyer_check(no, now, now - gap)
            .await
            .map_err(BuyerCheckError::Store)?
        {
            return Err(BuyerCheckError::TooSoon {
                no: no.clone(),
                retry_after: gap,
            });
        }
        let found = self.reconcile(&order, "buyer_check").await?;
        let order = self
            .store
            .order(no)
            .await
            .map_err(BuyerCheckError::Store)?
            .unwrap_or(order);
        Ok(BuyerCheck { found, order })
    }
}
