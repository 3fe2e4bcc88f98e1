//! The flows, each in its own module, over the ports: the shop's (checkout, callbacks,
//! payment confirmation, delivery, reconciliation), login and the metered chat.

mod books;
mod buyer_check;
mod callback;
mod chat;
mod checkout;
mod confirm;
mod console;
mod deliver;
mod login;
mod reconcile;
mod redeem;
mod refund;

pub use books::BooksError;
pub use buyer_check::{BuyerCheck, BuyerCheckError};
pub use callback::{CallbackError, CallbackOutcome};
pub use chat::{Chat, ChatError, ChatRules, MeteredAnswer};
pub use checkout::{CheckoutError, PayOrder};
pub use confirm::{ConfirmError, Confirmation};
pub use console::{
    Console, ConsoleLoginError, ConsolePolicy, NewSession, SaveOperatorError, Saved, actor_of,
};
pub use login::{Login, LoginPolicy, LongCodes, RedeemError};
pub use reconcile::{Expired, ReconcileError, Reconciled};
pub use redeem::{RedeemCodeError, Redeemed, Redemptions};
pub use refund::{RefundApplied, RefundError};

use crate::order::{MerchantIdentity, OrderNoGenerator, OrderTtl};
use crate::ports::Clock;
use std::sync::Arc;

/// Settings the flows need.
#[derive(Debug, Clone)]
pub struct ShopSettings {
    /// How long an order may be paid (`time_expire` = created + ttl).
    pub order_ttl: OrderTtl,
    /// The merchant a payment must name.
    pub merchant: MerchantIdentity,
    /// How often a buyer may ask for one order to be checked with the channel.
    pub buyer_check_gap: chrono::Duration,
}

/// The shop: checkout, payment confirmation and delivery over a store and a channel.
pub struct Shop<S, C> {
    store: Arc<S>,
    channel: Arc<C>,
    clock: Arc<dyn Clock>,
    order_nos: Arc<OrderNoGenerator>,
    settings: ShopSettings,
}

impl<S, C> Clone for Shop<S, C> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            channel: self.channel.clone(),
            clock: self.clock.clone(),
            order_nos: self.order_nos.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<S, C> Shop<S, C> {
    /// A shop over `store` and `channel`.
    pub fn new(
        store: Arc<S>,
        channel: Arc<C>,
        clock: Arc<dyn Clock>,
        order_nos: OrderNoGenerator,
        settings: ShopSettings,
    ) -> Self {
        Self {
            store,
            channel,
            clock,
            order_nos: Arc::new(order_nos),
            settings,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}
