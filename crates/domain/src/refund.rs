//! Refunds (DESIGN.md §7): money going back on a delivered order, in full or in part.
//!
//! A refund is its own record, committed (with the quota taken back) before the channel is
//! called, as an order is before its prepay: a refund call that times out leaves a
//! REQUESTED refund that the refund job asks about, and re-sends with the same number
//! (WeChat treats an identical retry as the same refund). Its states:
//!
//! ```text
//! REQUESTED --accepted--> PROCESSING --succeeded--> SUCCESS
//!     |                      |   \\--closed--> CLOSED   (quota given back)
//!     |                      \\--abnormal--> ABNORMAL --succeeded--> SUCCESS
//!     +--refused by the channel--> REFUSED               (quota given back)
//! ```
//! (REQUESTED may also go straight to SUCCESS, CLOSED or ABNORMAL, as the channel's first
//! answer says.) Each move is one conditional write, as an order's.

use crate::money::Fen;
use crate::order::{Order, OrderNo, OrderStatus};
use crate::user::UserId;
use chrono::{DateTime, Utc};
use std::fmt;

/// Our refund number (`out_refund_no`): the order number, `R`, and the refund's place
/// among the order's refunds, so two refunds of one order can never share a number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefundNo(String);

/// The text is not a refund number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a refund number is 1 to 64 characters of [0-9A-Za-z_-|*@], got {0:?}")]
pub struct RefundNoError(pub String);

impl RefundNo {
    /// The number of the `nth` (from 1) refund of `order`.
    pub fn nth(order: &OrderNo, nth: u32) -> Self {
        Self(format!("{order}R{nth:02}"))
    }

    /// Parses a number as stored or reported.
    pub fn parse(text: &str) -> Result<Self, RefundNoError> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(RefundNoError(text.chars().take(70).collect()))
        }
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RefundNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a refund is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundStatus {
    /// Stored, quota taken back; the channel's answer is not known yet.
    Requested,
    /// The channel accepted it and is paying back.
    Processing,
    /// The money went back. Final.
    Success,
    /// Closed at the channel without paying back; the quota was given back. Final.
    Closed,
    /// It went wrong at the channel (e.g. the payer's account is gone): the money is
    /// stuck until an operator pays it back another way; the quota stays taken.
    Abnormal,
    /// The channel refused the request (it never took effect); the quota was given back.
    /// Final.
    Refused,
}

/// The text is not a refund status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown refund status {0:?}")]
pub struct RefundStatusError(pub String);

impl RefundStatus {
    /// Every status.
    pub const ALL: [Self; 6] = [
        Self::Requested,
        Self::Processing,
        Self::Success,
        Self::Closed,
        Self::Abnormal,
        Self::Refused,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "REQUESTED",
            Self::Processing => "PROCESSING",
            Self::Success => "SUCCESS",
            Self::Closed => "CLOSED",
            Self::Abnormal => "ABNORMAL",
            Self::Refused => "REFUSED",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Result<Self, RefundStatusError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| RefundStatusError(text.to_owned()))
    }

    /// Whether the refund still counts against the order: its money is (or is being, or
    /// is owed to be) paid back, and its quota stays taken.
    pub fn counts(self) -> bool {
        !matches!(self, Self::Closed | Self::Refused)
    }

    /// Whether the refund job still asks the channel about it.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Requested | Self::Processing)
    }
}

impl fmt::Display for RefundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A move of a refund: from any of `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundTransition {
    pub name: &'static str,
    pub from: &'static [RefundStatus],
    pub to: RefundStatus,
}

use RefundStatus::*;

impl RefundTransition {
    pub const ACCEPT: Self = Self {
        name: "accept",
        from: &[Requested],
        to: Processing,
    };
    pub const SUCCEED: Self = Self {
        name: "succeed",
        from: &[Requested, Processing, Abnormal],
        to: Success,
    };
    pub const CLOSE: Self = Self {
        name: "close",
        from: &[Requested, Processing],
        to: Closed,
    };
    pub const ABNORMAL: Self = Self {
        name: "go abnormal",
        from: &[Requested, Processing],
        to: Abnormal,
    };
    pub const REFUSE: Self = Self {
        name: "refuse",
        from: &[Requested],
        to: Refused,
    };

    /// The move to `to`.
    pub fn to(to: RefundStatus) -> Option<Self> {
        [
            Self::ACCEPT,
            Self::SUCCEED,
            Self::CLOSE,
            Self::ABNORMAL,
            Self::REFUSE,
        ]
        .into_iter()
        .find(|t| t.to == to)
    }

    /// Whether a refund in `status` may take this move.
    pub fn allows(&self, status: RefundStatus) -> bool {
        self.from.contains(&status)
    }

    /// Whether the move gives the refund's quota back.
    pub fn gives_quota_back(&self) -> bool {
        matches!(self.to, Closed | Refused)
    }
}

/// Why the money goes back, as the operator wrote it (also shown to the payer by WeChat):
/// 1 to 80 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundReason(String);

impl RefundReason {
    /// Parses a reason, trimmed.
    pub fn parse(text: &str) -> Result<Self, RefundRefusal> {
        let text = text.trim();
        if (1..=80).contains(&text.chars().count()) && !text.chars().any(char::is_control) {
            Ok(Self(text.to_owned()))
        } else {
            Err(RefundRefusal::Reason)
        }
    }

    /// The reason.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub refund_no: RefundNo,
    pub order_no: OrderNo,
    pub user_id: UserId,
    pub amount: Fen,
    /// The quota taken back from the user for it.
    pub quota_back: u32,
    pub reason: RefundReason,
    /// The operator paid back more than the unused quota is worth.
    pub forced: bool,
    pub status: RefundStatus,
    /// Who asked for it (`admin-token`, later an operator's name).
    pub requested_by: String,
    /// The channel's id, once it said one.
    pub channel_refund_id: Option<String>,
    /// What the channel last reported of it, exactly as verified (JSON).
    pub channel_report: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// What an operator asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundAsk {
    pub amount: Fen,
    pub reason: RefundReason,
    /// Pay back more than the unused quota is worth (quota is then taken back as far as
    /// the balance holds).
    pub force: bool,
}

/// What the rules allow for an ask: the refund's number, and the quota it takes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPlan {
    pub refund_no: RefundNo,
    pub amount: Fen,
    pub quota_back: u32,
}

/// Why a refund is not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefusal {
    #[error("a refund's reason is 1 to 80 characters without control characters")]
    Reason,
    #[error("a refund is at least 1 fen")]
    Zero,
    #[error(
        "order {no} is {status}: only a delivered order's money, or a payment under review, \
         can go back"
    )]
    NotRefundable { no: OrderNo, status: OrderStatus },
    #[error("{asked} fen is more than is left to refund on the order ({left} fen)")]
    MoreThanLeft { asked: u64, left: u64 },
    #[error(
        "a payment under review goes back whole: {paid} fen, in one refund{}",
        if *.open { " (one is already made or under way)" } else { "" }
    )]
    ReviewIsWhole { paid: u64, open: bool },
    #[error(
        "only unused quota is paid back: at most {most} fen ({unused} of the order's {quota} \
         quota unused); force the refund to pay back more"
    )]
    MoreThanUnused { most: u64, unused: u64, quota: u32 },
}

impl RefundPlan {
    /// What the rules allow for `ask` on `order`, given its `earlier` refunds and the
    /// user's `surplus` quota now.
    ///
    /// By default only unused quota is paid back: the amount is at most price × unused ÷
    /// quota, rounded down to a fen, where the order's unused quota is what it credited,
    /// less what its earlier refunds took back, and no more than the balance holds. The
    /// quota taken back is the amount's share of the order's quota, rounded up. A forced
    /// refund may pay back up to what is left of the money; it takes that share of quota
    /// as far as the order's quota and the balance hold, never below zero.
    pub fn decide(
        order: &Order,
        earlier: &[Refund],
        surplus: i64,
        ask: &RefundAsk,
    ) -> Result<Self, RefundRefusal> {
        if order.status == OrderStatus::Review
            && let Some(paid) = order.review_paid
        {
            return Self::of_review(order, paid, earlier, ask);
        }
        if !order.status.is_refundable() {
            return Err(RefundRefusal::NotRefundable {
                no: order.order_no.clone(),
                status: order.status,
            });
        }
        let asked = ask.amount.fen();
        if asked == 0 {
            return Err(RefundRefusal::Zero);
        }
        let counting = earlier.iter().filter(|r| r.status.counts());
        let refunded: u64 = counting.clone().map(|r| r.amount.fen()).sum();
        let taken: u64 = counting.map(|r| u64::from(r.quota_back)).sum();
        let price = order.amount.fen();
        let left = price.saturating_sub(refunded);
        if asked > left {
            return Err(RefundRefusal::MoreThanLeft { asked, left });
        }
        let quota = u64::from(order.quota);
        let unused = quota
            .saturating_sub(taken)
            .min(u64::try_from(surplus).unwrap_or(0));
        // Widened: price × quota stays far inside u128.
        let share = |fen: u64| -> u64 {
            let (fen, quota, price) = (u128::from(fen), u128::from(quota), u128::from(price));
            u64::try_from((fen * quota).div_ceil(price.max(1))).unwrap_or(u64::MAX)
        };
        let quota_back = if ask.force {
            share(asked).min(unused)
        } else {
            let most =
                u64::try_from(u128::from(price) * u128::from(unused) / u128::from(quota.max(1)))
                    .unwrap_or(u64::MAX)
                    .min(left);
            if asked > most {
                return Err(RefundRefusal::MoreThanUnused {
                    most,
                    unused,
                    quota: order.quota,
                });
            }
            share(asked)
        };
        Ok(Self {
            refund_no: RefundNo::nth(&order.order_no, earlier.len() as u32 + 1),
            amount: ask.amount,
            quota_back: u32::try_from(quota_back).unwrap_or(u32::MAX),
        })
    }

    /// A REVIEW is resolved by paying the payment back whole, in one refund: nothing was
    /// delivered, so no quota comes back, and a part would leave money neither ours nor
    /// the payer's. A refund that failed may be asked again.
    fn of_review(
        order: &Order,
        paid: Fen,
        earlier: &[Refund],
        ask: &RefundAsk,
    ) -> Result<Self, RefundRefusal> {
        let open = earlier.iter().any(|r| r.status.counts());
        if open || ask.amount != paid {
            return Err(RefundRefusal::ReviewIsWhole {
                paid: paid.fen(),
                open,
            });
        }
        Ok(Self {
            refund_no: RefundNo::nth(&order.order_no, earlier.len() as u32 + 1),
            amount: paid,
            quota_back: 0,
        })
    }
}
