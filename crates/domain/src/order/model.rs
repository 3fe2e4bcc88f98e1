//! The order aggregate.

use super::{OrderNo, OrderStatus, TransactionId};
use crate::money::Fen;
use crate::product::{ModelType, Product, ProductId, Quota};
use crate::user::UserId;
use chrono::{DateTime, Utc};

/// A pay order, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_no: OrderNo,
    pub user_id: UserId,
    pub product_id: ProductId,
    /// A snapshot of the product at checkout: later catalog edits do not change the deal.
    pub product_name: String,
    pub quota: Quota,
    pub model_types: Vec<ModelType>,
    pub amount: Fen,
    pub status: OrderStatus,
    pub code_url: Option<String>,
    /// How many times a prepay was sent (a CREATED order with attempts may exist at WeChat).
    pub prepay_attempts: u32,
    pub created_at: DateTime<Utc>,
    /// The payment deadline, also sent to WeChat as `time_expire`.
    pub expire_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub transaction_id: Option<TransactionId>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Why the order is in REVIEW.
    pub review_reason: Option<String>,
    /// What the payment under review carried: all of it may go back (a REVIEW refund).
    pub review_paid: Option<Fen>,
    pub updated_at: DateTime<Utc>,
}

/// What a checkout needs to open an order.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    pub order_no: OrderNo,
    pub user_id: UserId,
    pub product: &'a Product,
    pub now: DateTime<Utc>,
    pub ttl: chrono::Duration,
}

impl Order {
    /// A fresh CREATED order for `product`, expiring after `ttl`.
    pub fn open(new: NewOrder<'_>) -> Self {
        Self {
            order_no: new.order_no,
            user_id: new.user_id,
            product_id: new.product.id,
            product_name: new.product.name.clone(),
            quota: new.product.quota,
            model_types: new.product.model_types.clone(),
            amount: new.product.price,
            status: OrderStatus::Created,
            code_url: None,
            prepay_attempts: 0,
            created_at: new.now,
            expire_at: new.now + new.ttl,
            paid_at: None,
            transaction_id: None,
            delivered_at: None,
            closed_at: None,
            review_reason: None,
            review_paid: None,
            updated_at: new.now,
        }
    }

    /// Whether the order can still be paid at `now`.
    pub fn is_payable_at(&self, now: DateTime<Utc>) -> bool {
        self.status.is_unpaid() && now < self.expire_at
    }

    /// The total WeChat holds for the order's payment, which its refunds must name: the
    /// order's amount, or under REVIEW what the payment carried.
    pub fn paid_total(&self) -> Fen {
        self.review_paid.unwrap_or(self.amount)
    }

    /// A PAY_WAIT order whose QR code can be shown again (the leftover-order case).
    pub fn live_code_url(&self, now: DateTime<Utc>) -> Option<&str> {
        match self.status {
            OrderStatus::PayWait if self.is_payable_at(now) => self.code_url.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::Transition;
    use crate::product::ProductId;

    fn order() -> Order {
        let product = Product {
            id: ProductId::new(1001).unwrap(),
            name: "Trial".into(),
            description: String::new(),
            quota: 10,
            model_types: vec![],
            price: Fen::new(99).unwrap(),
            sort: 1,
            enabled: true,
        };
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Order::open(NewOrder {
            order_no: OrderNo::parse("2027011508000000000001").unwrap(),
            user_id: UserId::parse("oUser").unwrap(),
            product: &product,
            now,
            ttl: chrono::Duration::minutes(30),
        })
    }

    #[test]
    fn a_closed_order_can_still_be_paid_and_the_deadline_is_kept() {
        let mut o = order();
        assert!(o.is_payable_at(o.created_at));
        assert!(!o.is_payable_at(o.expire_at));
        o.status = Transition::CLOSE.check(o.status).unwrap();
        assert_eq!(Transition::PAY.check(o.status), Ok(OrderStatus::Paid));
        assert_eq!(o.live_code_url(o.created_at), None);
    }
}
