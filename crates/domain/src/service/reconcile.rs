//! Compensation: bringing an order in line with what the payment channel knows.
//!
//! The missed-payment job (掉单补偿) asks the channel about unpaid orders whose notification
//! may never come; the expiry job (超时关单) queries, then closes at the channel, then closes
//! locally. A payment found either way goes through [`Shop::confirm_payment`], the same
//! checks as a notification.

use super::{Confirmation, Shop};
use crate::order::{Cause, Order, OrderStatus};

/// The expiry job, as it names itself in an order's history.
const EXPIRY: &str = "expiry";
use crate::ports::{
    ChannelError, OrderRepository, PaymentChannel, PaymentState, UnmatchedPayments,
};

/// What a check of an unpaid order found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// The channel says paid: applied (PAID now, already paid, or REVIEW).
    Payment(Confirmation),
    /// Still unpaid: look again later.
    Unpaid,
    /// The channel closed it (it will never be paid): closed locally too.
    ClosedAtChannel,
    /// The channel never saw it (a prepay that did not get through): left for expiry.
    UnknownToChannel,
    /// The order is no longer unpaid locally: nothing to do.
    Settled(OrderStatus),
}

/// What expiring an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expired {
    /// Paid after all: applied instead of closed.
    Payment(Confirmation),
    /// Closed at the channel (or never there) and locally.
    Closed,
    /// The order is no longer unpaid locally: nothing to do.
    Settled(OrderStatus),
}

/// A check failed in a way worth retrying (the channel did not answer, or the store failed).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("the payment channel: {0}")]
    Channel(ChannelError),
    #[error(transparent)]
    Confirm(#[from] super::ConfirmError),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl<S, C> Shop<S, C>
where
    S: OrderRepository + UnmatchedPayments,
    C: PaymentChannel,
{
    /// Asks the channel whether an unpaid order was paid, and applies what it says; `by`
    /// names who asks (a job, `buyer_check`), for the order's history.
    pub async fn reconcile(
        &self,
        order: &Order,
        by: &'static str,
    ) -> Result<Reconciled, ReconcileError> {
        let cause = Cause::Query(by);
        if !order.status.is_unpaid() {
            return Ok(Reconciled::Settled(order.status));
        }
        match self.channel.query(&order.order_no).await {
            Ok(PaymentState::Paid(payment)) => Ok(Reconciled::Payment(
                self.confirm_payment(&payment, &cause).await?,
            )),
            Ok(PaymentState::Unpaid | PaymentState::Failed(_)) => Ok(Reconciled::Unpaid),
            Ok(PaymentState::Closed) => {
                self.store
                    .close(&order.order_no, &cause, self.clock.now())
                    .await?;
                Ok(Reconciled::ClosedAtChannel)
            }
            Ok(PaymentState::NotFound) | Err(ChannelError::NotFound) => {
                Ok(Reconciled::UnknownToChannel)
            }
            Err(e) => Err(ReconcileError::Channel(e)),
        }
    }

    /// Expires an unpaid order past its deadline: query first (a payment wins), then close
    /// at the channel, then locally. Any step that fails leaves the order for a later round.
    pub async fn expire(&self, order: &Order) -> Result<Expired, ReconcileError> {
        match self.reconcile(order, EXPIRY).await? {
            Reconciled::Payment(confirmation) => return Ok(Expired::Payment(confirmation)),
            Reconciled::Settled(status) => return Ok(Expired::Settled(status)),
            Reconciled::ClosedAtChannel => return Ok(Expired::Closed),
            Reconciled::UnknownToChannel => {} // nothing to close at the channel
            Reconciled::Unpaid => match self.channel.close(&order.order_no).await {
                Ok(()) | Err(ChannelError::NotFound) => {}
                // Refused (e.g. it was paid in between) or unknown: the next round queries again.
                Err(e) => return Err(ReconcileError::Channel(e)),
            },
        }
        if self
            .store
            .close(&order.order_no, &Cause::Job(EXPIRY), self.clock.now())
            .await?
        {
            return Ok(Expired::Closed);
        }
        // Lost a race with a payment: report what the order is now.
        let now_status = self
            .store
            .order(&order.order_no)
            .await?
            .map_or(OrderStatus::Closed, |o| o.status);
        Ok(Expired::Settled(now_status))
    }
}
