//! The order state machine (DESIGN.md §3) as data: each transition names the states it
//! may start from, so the store can apply it as one conditional UPDATE.

use std::fmt;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Committed locally; the prepay may or may not have reached WeChat.
    Created,
    /// WeChat accepted the prepay; the QR code is live.
    PayWait,
    /// Payment confirmed (notify or query); delivery is owed.
    Paid,
    /// Quota credited.
    Delivered,
    /// Delivered, and part of the money paid back (refunds that succeeded).
    PartlyRefunded,
    /// All of the money paid back: of a delivered order, or the payment under REVIEW. Final.
    Refunded,
    /// Unpaid past expiry and closed. A late payment still moves it to PAID.
    Closed,
    /// A payment that does not match the order (amount, currency, merchant). Never
    /// delivered; an operator resolves it by paying the whole payment back.
    Review,
}

/// The text is not a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order status {0:?}")]
pub struct OrderStatusError(pub String);

impl OrderStatus {
    /// Every status.
    pub const ALL: [Self; 8] = [
        Self::Created,
        Self::PayWait,
        Self::Paid,
        Self::Delivered,
        Self::PartlyRefunded,
        Self::Refunded,
        Self::Closed,
        Self::Review,
    ];

    /// The stored and wire name (`PAY_WAIT`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::PayWait => "PAY_WAIT",
            Self::Paid => "PAID",
            Self::Delivered => "DELIVERED",
            Self::PartlyRefunded => "PARTLY_REFUNDED",
            Self::Refunded => "REFUNDED",
            Self::Closed => "CLOSED",
            Self::Review => "REVIEW",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Result<Self, OrderStatusError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| OrderStatusError(text.to_owned()))
    }

    /// Whether the order was paid (whatever happened since).
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            Self::Paid | Self::Delivered | Self::PartlyRefunded | Self::Refunded
        )
    }

    /// Whether money may be paid back on the order: delivered, and not all refunded.
    pub fn is_refundable(self) -> bool {
        matches!(self, Self::Delivered | Self::PartlyRefunded)
    }

    /// Whether the order still waits for a payment.
    pub fn is_unpaid(self) -> bool {
        matches!(self, Self::Created | Self::PayWait)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A move of the state machine: from any of `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub name: &'static str,
    pub from: &'static [OrderStatus],
    pub to: OrderStatus,
}

/// The order is not in a state the transition starts from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {transition} an order that is {from}")]
pub struct TransitionError {
    pub transition: &'static str,
    pub from: OrderStatus,
}

use OrderStatus::*;

impl Transition {
    /// WeChat accepted the prepay: the code_url is recorded.
    pub const PREPAY: Self = Self {
        name: "prepay",
        from: &[Created],
        to: PayWait,
    };
    /// A confirmed, matching payment. A CLOSED order is paid late, and honoured.
    pub const PAY: Self = Self {
        name: "pay",
        from: &[Created, PayWait, Closed],
        to: Paid,
    };
    /// Quota credited.
    pub const DELIVER: Self = Self {
        name: "deliver",
        from: &[Paid],
        to: Delivered,
    };
    /// Unpaid past expiry.
    pub const CLOSE: Self = Self {
        name: "close",
        from: &[Created, PayWait],
        to: Closed,
    };
    /// WeChat refused the prepay: the number can never be paid. Only from CREATED, so a
    /// refusal can never undo a QR code a concurrent checkout already handed out.
    pub const ABANDON: Self = Self {
        name: "abandon",
        from: &[Created],
        to: Closed,
    };
    /// A payment that does not match the order.
    pub const REVIEW: Self = Self {
        name: "review",
        from: &[Created, PayWait, Closed],
        to: Review,
    };

    /// A refund succeeded and money is left to pay back.
    pub const REFUND_PART: Self = Self {
        name: "refund part",
        from: &[Delivered, PartlyRefunded],
        to: PartlyRefunded,
    };
    /// A refund succeeded and nothing is left to pay back.
    pub const REFUND_ALL: Self = Self {
        name: "refund all",
        from: &[Delivered, PartlyRefunded],
        to: Refunded,
    };
    /// The payment under review went back whole: the REVIEW is resolved.
    pub const REFUND_REVIEW: Self = Self {
        name: "refund review",
        from: &[Review],
        to: Refunded,
    };

    /// Whether an order in `status` may take this transition.
    pub fn allows(&self, status: OrderStatus) -> bool {
        self.from.contains(&status)
    }

    /// Checks that an order in `status` may take this transition.
    pub fn check(&self, status: OrderStatus) -> Result<OrderStatus, TransitionError> {
        if self.allows(status) {
            Ok(self.to)
        } else {
            Err(TransitionError {
                transition: self.name,
                from: status,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Ok(status));
        }
        assert!(OrderStatus::parse("paid").is_err());
    }

    #[test]
    fn the_machine_allows_exactly_the_designed_moves() {
        let moves = [
            Transition::PREPAY,
            Transition::PAY,
            Transition::DELIVER,
            Transition::CLOSE,
            Transition::ABANDON,
            Transition::REVIEW,
            Transition::REFUND_PART,
            Transition::REFUND_ALL,
            Transition::REFUND_REVIEW,
        ];
        let allowed: Vec<(&str, OrderStatus)> = moves
            .iter()
            .flat_map(|t| {
                OrderStatus::ALL
                    .into_iter()
                    .filter(|s| t.allows(*s))
                    .map(|s| (t.name, s))
            })
            .collect();
        assert_eq!(
            allowed,
            vec![
                ("prepay", Created),
                ("pay", Created),
                ("pay", PayWait),
                ("pay", Closed),
                ("deliver", Paid),
                ("close", Created),
                ("close", PayWait),
                ("abandon", Created),
                ("review", Created),
                ("review", PayWait),
                ("review", Closed),
                ("refund part", Delivered),
                ("refund part", PartlyRefunded),
                ("refund all", Delivered),
                ("refund all", PartlyRefunded),
                ("refund review", Review),
            ]
        );
        // REFUNDED is final, and a REVIEW is never delivered: its only way out is its
        // money going back.
        assert!(moves.iter().all(|t| !t.allows(Refunded)));
        assert!(moves.iter().all(|t| !t.allows(Review) || t.to == Refunded));
        assert_eq!(
            Transition::DELIVER.check(Closed),
            Err(TransitionError {
                transition: "deliver",
                from: Closed
            })
        );
    }
}
