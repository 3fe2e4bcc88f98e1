//! A payment channel's callback: the channel says what it reports, channel-neutrally, and
//! the shop acts on it. A second channel plugs in with an adapter and a route; this flow
//! and the handler stay as they are.

use super::RefundApplied;
use super::{ConfirmError, Confirmation, Shop};
use crate::order::Cause;
use crate::ports::{
    AccountRepository, Callback, CallbackRefusal, ChannelEvent, OrderRepository, PaymentChannel,
    RefundRepository, UnmatchedPayments,
};

/// What a callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// It reported a payment, applied as the confirmation says.
    Payment(Confirmation),
    /// It reported a refund, applied as it says.
    Refund(RefundApplied),
    /// Genuine, and nothing to do.
    Nothing,
}

/// A callback was not handled; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// The channel refused it.
    #[error(transparent)]
    Refused(#[from] CallbackRefusal),
    /// It could not be recorded now; the channel will send it again.
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl From<ConfirmError> for CallbackError {
    fn from(e: ConfirmError) -> Self {
        match e {
            ConfirmError::Store(e) => Self::Store(e),
        }
    }
}

impl<S, C> Shop<S, C>
where
    S: OrderRepository + UnmatchedPayments + RefundRepository + AccountRepository,
    C: PaymentChannel,
{
    /// Verifies a callback through the channel and applies what it reports.
    #[tracing::instrument(skip_all, fields(event_id))]
    pub async fn handle_callback(
        &self,
        callback: Callback<'_>,
    ) -> Result<CallbackOutcome, CallbackError> {
        let callback = self.channel.read_callback(callback)?;
        tracing::Span::current().record("event_id", callback.event_id.as_str());
        match callback.event {
            ChannelEvent::PaymentSucceeded(payment) => {
                let cause = Cause::Notification(callback.event_id.clone());
                let confirmation = self.confirm_payment(&payment, &cause).await?;
                Ok(CallbackOutcome::Payment(confirmation))
            }
            ChannelEvent::Refund(report) => Ok(CallbackOutcome::Refund(
                self.apply_refund_report(&report, &Cause::Notification(callback.event_id.clone()))
                    .await?,
            )),
            ChannelEvent::NothingToDo(what) => {
                tracing::info!(%what, "callback: nothing to do");
                Ok(CallbackOutcome::Nothing)
            }
        }
    }
}
