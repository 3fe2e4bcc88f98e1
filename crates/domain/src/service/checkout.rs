//! Checkout: open (or re-use) an order and get a QR code for it.
//!
//! The order is committed CREATED before the channel is called, so a prepay that times out
//! leaves a leftover order that the next checkout of the same user and product retries
//! with the same order number (WeChat treats an identical retry as the same order).

use super::Shop;
use crate::money::Fen;
use crate::order::{Cause, NewOrder, Order, OrderNo, OrderStatus};
use crate::ports::{
    ChannelError, InsertOrderError, OrderRepository, PaymentChannel, PrepayRequest, ProductCatalog,
};
use crate::product::ProductId;
use crate::user::UserId;
use chrono::{DateTime, Utc};

/// An order ready to be paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayOrder {
    pub order_no: OrderNo,
    pub code_url: String,
    pub amount: Fen,
    pub expire_at: DateTime<Utc>,
    /// The leftover order was re-used.
    pub reused: bool,
}

/// Why a checkout did not produce a QR code.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("no product {0}")]
    ProductNotFound(ProductId),
    #[error("product {0} is off sale")]
    ProductOffSale(ProductId),
    /// The order is kept CREATED (checking out again retries it), or it settled meanwhile
    /// (checking out again opens a fresh one).
    /// `reason` says what the payment service did, e.g. "did not answer in time" or
    /// "failed (HTTP 500 SYSTEM_ERROR)".
    #[error(
        "the payment service {reason} for order {order_no}; whether it took the order is \
         unknown, try again"
    )]
    PaymentUnavailable { order_no: OrderNo, reason: String },
    /// The channel refused; the order was closed locally.
    #[error("the payment service refused order {order_no}: {code}")]
    PaymentRefused {
        order_no: OrderNo,
        code: String,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

impl<S, C> Shop<S, C>
where
    S: OrderRepository + ProductCatalog,
    C: PaymentChannel,
{
    /// Checks out `product_id` for `user`: the leftover order if there is one, else a new one.
    pub async fn place_order(
        &self,
        user: &UserId,
        product_id: ProductId,
    ) -> Result<PayOrder, CheckoutError> {
        let now = self.clock.now();
        let product = self
            .store
            .product(product_id)
            .await?
            .ok_or(CheckoutError::ProductNotFound(product_id))?;
        if !product.enabled {
            return Err(CheckoutError::ProductOffSale(product_id));
        }

        let (order, reused) = match self.store.open_order(user, product_id, now).await? {
            Some(leftover) => (leftover, true),
            None => (self.open_new_order(user, &product, now).await?, false),
        };
        if let Some(code_url) = order.live_code_url(now) {
            return Ok(pay_order(&order, code_url.to_owned(), reused));
        }
        debug_assert_eq!(order.status, OrderStatus::Created);
        self.prepay(order, reused, now).await
    }

    async fn open_new_order(
        &self,
        user: &UserId,
        product: &crate::product::Product,
        now: DateTime<Utc>,
    ) -> Result<Order, CheckoutError> {
        // A duplicate number can only come from a misconfigured node id; one retry with a
        // fresh number keeps the user going while the log tells the operator.
        for _ in 0..2 {
            let mut order = Order::open(NewOrder {
                order_no: self.order_nos.next(now),
                user_id: user.clone(),
                product,
                now,
                ttl: self.settings.order_ttl.get(),
            });
            // The prepay that follows is counted in the insert: one write less per checkout.
            order.prepay_attempts = 1;
            match self.store.insert(&order).await {
                Ok(()) => return Ok(order),
                Err(InsertOrderError::Duplicate(no)) => {
                    tracing::error!(order_no = %no, "order number collision: check that node ids are unique");
                }
                Err(InsertOrderError::Store(e)) => return Err(e.into()),
            }
        }
        Err(anyhow::anyhow!("could not allocate a unique order number").into())
    }

    async fn prepay(
        &self,
        order: Order,
        reused: bool,
        now: DateTime<Utc>,
    ) -> Result<PayOrder, CheckoutError> {
        if reused {
            self.store.note_prepay_attempt(&order.order_no, now).await?;
        }
        let request = PrepayRequest {
            order_no: order.order_no.clone(),
            description: order.product_name.clone(),
            amount: order.amount,
            expire_at: order.expire_at,
        };
        match self.channel.prepay(&request).await {
            Ok(code_url) => {
                if self
                    .store
                    .record_prepay(&order.order_no, &code_url, &Cause::Buyer, self.clock.now())
                    .await?
                {
                    return Ok(pay_order(&order, code_url, reused));
                }
                // Someone else moved the order first: hand out what the order holds now.
                self.settled_meanwhile(&order.order_no, reused).await
            }
            Err(ChannelError::OutcomeUnknown(reason)) => Err(CheckoutError::PaymentUnavailable {
                order_no: order.order_no,
                reason,
            }),
            Err(ChannelError::Refused { code, message }) => {
                // WeChat will never take this number: give it up so the next checkout opens
                // a fresh order instead of retrying a refusal forever.
                if !self
                    .store
                    .abandon(&order.order_no, &Cause::Buyer, self.clock.now())
                    .await?
                {
                    // A concurrent checkout got a QR code for it first: that one stands.
                    return self.settled_meanwhile(&order.order_no, reused).await;
                }
                Err(CheckoutError::PaymentRefused {
                    order_no: order.order_no,
                    code,
                    message,
                })
            }
            Err(ChannelError::NotFound) => Err(CheckoutError::PaymentUnavailable {
                order_no: order.order_no,
                reason: "answered the prepay with ORDER_NOT_EXIST".into(),
            }),
        }
    }

    /// After losing a race on a CREATED order (a concurrent checkout recorded its prepay,
    /// or a job closed or a payment settled it): the QR code it holds if it is still
    /// payable, else a retryable error, never a code_url for an order that cannot be paid.
    async fn settled_meanwhile(
        &self,
        order_no: &OrderNo,
        reused: bool,
    ) -> Result<PayOrder, CheckoutError> {
        let now = self.clock.now();
        let order = self
            .store
            .order(order_no)
            .await?
            .ok_or_else(|| anyhow::anyhow!("order {order_no} vanished during checkout"))?;
        match order.live_code_url(now) {
            Some(code_url) => Ok(pay_order(&order, code_url.to_owned(), reused)),
            None => Err(CheckoutError::PaymentUnavailable {
                order_no: order.order_no,
                reason: format!("was busy while the order became {}", order.status),
            }),
        }
    }
}

fn pay_order(order: &Order, code_url: String, reused: bool) -> PayOrder {
    PayOrder {
        order_no: order.order_no.clone(),
        code_url,
        amount: order.amount,
        expire_at: order.expire_at,
        reused,
    }
}
