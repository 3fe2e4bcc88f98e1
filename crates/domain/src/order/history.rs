//! An order's history: each transition of the order and of its refunds, with its time, its
//! cause and the data it acted on, written in the same transaction as the transition. It
//! is what support reads when a buyer says "I paid and got nothing" (掉单客诉).

use super::OrderNo;
use chrono::{DateTime, Utc};

/// What moved an order or a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The buyer's own request (the checkout and its prepay).
    Buyer,
    /// A WeChat Pay notification, by its id.
    Notification(String),
    /// An answer of WeChat's to a call or a query, asked by `by`: a job
    /// (`missed_payment`, `refunds`), the buyer's "I have paid" (`buyer_check`), the
    /// reconciliation (`reconciliation`) or a refund's own request (`refund`).
    Query(&'static str),
    /// A background job, by name (`expiry`, `delivery`, `redelivery`).
    Job(&'static str),
    /// An operator, by name (`admin-token` for the static admin token).
    Operator(String),
}

impl Cause {
    /// As stored and shown: `buyer`, `notification:<id>`, `query:<by>`, `job:<name>`,
    /// `operator:<name>`.
    pub fn to_text(&self) -> String {
        match self {
            Self::Buyer => "buyer".into(),
            Self::Notification(id) => format!("notification:{id}"),
            Self::Query(by) => format!("query:{by}"),
            Self::Job(name) => format!("job:{name}"),
            Self::Operator(name) => format!("operator:{name}"),
        }
    }

    /// Its kind alone (`buyer`, `notification`, `query`, `job`, `operator`): few enough
    /// values for a metric's label.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Buyer => "buyer",
            Self::Notification(_) => "notification",
            Self::Query(_) => "query",
            Self::Job(_) => "job",
            Self::Operator(_) => "operator",
        }
    }
}

/// One transition in an order's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub order_no: OrderNo,
    /// The refund it moved, for a refund's transition.
    pub refund_no: Option<String>,
    /// The transition's name (`pay`, `deliver`, …; a refund's: `open`, `succeed`, …).
    pub transition: String,
    /// The state it left the order (or the refund) in.
    pub to: String,
    /// [`Cause::to_text`].
    pub cause: String,
    /// What it acted on, as JSON (the payment's transaction id and amount, the refund's
    /// report…), if anything.
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_written_with_their_kind_first() {
        assert_eq!(Cause::Buyer.to_text(), "buyer");
        assert_eq!(
            Cause::Notification("EV-1".into()).to_text(),
            "notification:EV-1"
        );
        assert_eq!(
            Cause::Query("missed_payment").to_text(),
            "query:missed_payment"
        );
        assert_eq!(Cause::Job("expiry").to_text(), "job:expiry");
        assert_eq!(
            Cause::Operator("admin-token".into()).to_text(),
            "operator:admin-token"
        );
        for cause in [Cause::Buyer, Cause::Query("x"), Cause::Operator("y".into())] {
            assert!(cause.to_text().starts_with(cause.kind()));
        }
    }
}
