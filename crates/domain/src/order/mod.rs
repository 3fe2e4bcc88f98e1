//! Orders: the pay order, its number, and the state machine of DESIGN.md §3.

mod history;
mod model;
mod no;
mod payment;
mod status;
mod ttl;

pub use history::{Cause, OrderEvent};
pub use model::{NewOrder, Order};
pub use no::{MAX_NODE, OrderNo, OrderNoError, OrderNoGenerator};
pub use payment::{
    MerchantIdentity, PaymentConfirmation, PaymentMismatch, TransactionId, TransactionIdError,
    UnmatchedPayment,
};
pub use status::{OrderStatus, OrderStatusError, Transition, TransitionError};
pub use ttl::{OrderTtl, OrderTtlError};
