//! A payment as WeChat Pay reports it, and the checks that decide whether it pays an order.

use crate::money::Fen;
use chrono::{DateTime, Utc};
use std::fmt;

/// The channel's id of one payment (WeChat's `transaction_id`): what makes a payment unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionId(String);

/// A reported transaction id is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a transaction id is 1 to {max} visible ASCII characters, got {0:?}", max = TransactionId::MAX_LEN)]
pub struct TransactionIdError(String);

impl TransactionId {
    /// WeChat's ids are 28 to 32 digits; the bound leaves room for other channels.
    pub const MAX_LEN: usize = 64;

    /// A transaction id as a channel reported it.
    pub fn parse(id: &str) -> Result<Self, TransactionIdError> {
        let visible = id.bytes().all(|b| b.is_ascii_graphic());
        if id.is_empty() || id.len() > Self::MAX_LEN || !visible {
            return Err(TransactionIdError(
                id.chars().take(Self::MAX_LEN + 1).collect(),
            ));
        }
        Ok(Self(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The merchant this shop is, as a payment must name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantIdentity {
    pub mchid: String,
    pub appid: String,
}

/// A successful payment reported by the channel (a verified notify or a query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentConfirmation {
    /// The merchant's order number as reported: checked, since it may name no order here.
    pub out_trade_no: String,
    pub transaction_id: TransactionId,
    pub mchid: String,
    pub appid: String,
    /// `amount.total` as reported: checked against the order, not trusted.
    pub total: Fen,
    pub currency: String,
    pub payer_openid: Option<String>,
    pub success_time: Option<DateTime<Utc>>,
    /// The payment exactly as the channel reported it (the decrypted resource or the
    /// query's answer, JSON): kept wherever the payment is kept, never dropped.
    pub raw: String,
}

/// A verified payment that names no order of this shop: kept for an operator (it may be a
/// restored database's lost order, or another shop on the same merchant account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedPayment {
    pub payment: PaymentConfirmation,
    /// Where it came from first, e.g. `notify` or `query`.
    pub source: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// How many times it arrived.
    pub times_seen: u32,
}

/// Why a reported payment does not pay the order (the order goes to REVIEW).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentMismatch {
    #[error("amount: paid {paid} yuan, the order is {expected} yuan")]
    Amount { expected: Fen, paid: Fen },
    #[error("currency {0:?} is not CNY")]
    Currency(String),
    #[error("mchid {0:?} is not this merchant's")]
    Mchid(String),
    #[error("appid {0:?} is not this merchant's")]
    Appid(String),
}

impl PaymentConfirmation {
    /// Checks the payment against the order's amount and this merchant.
    pub fn check(&self, amount: Fen, merchant: &MerchantIdentity) -> Result<(), PaymentMismatch> {
        if self.mchid != merchant.mchid {
            return Err(PaymentMismatch::Mchid(self.mchid.clone()));
        }
        if self.appid != merchant.appid {
            return Err(PaymentMismatch::Appid(self.appid.clone()));
        }
        if self.currency != "CNY" {
            return Err(PaymentMismatch::Currency(self.currency.clone()));
        }
        if self.total != amount {
            return Err(PaymentMismatch::Amount {
                expected: amount,
                paid: self.total,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merchant() -> MerchantIdentity {
        MerchantIdentity {
            mchid: "1900007291".into(),
            appid: "wx0000000000000001".into(),
        }
    }

    fn paid(total: u64) -> PaymentConfirmation {
        PaymentConfirmation {
            out_trade_no: "2026112815220000100001".into(),
            transaction_id: TransactionId::parse("4200000000000000001").unwrap(),
            mchid: "1900007291".into(),
            appid: "wx0000000000000001".into(),
            total: Fen::new(total).unwrap(),
            currency: "CNY".into(),
            payer_openid: None,
            success_time: None,
            raw: "{}".into(),
        }
    }

    #[test]
    fn a_matching_payment_passes_and_each_mismatch_is_named() {
        let price = Fen::new(990).unwrap();
        assert_eq!(paid(990).check(price, &merchant()), Ok(()));
        assert_eq!(
            paid(1).check(price, &merchant()),
            Err(PaymentMismatch::Amount {
                expected: price,
                paid: Fen::new(1).unwrap()
            })
        );
        let mut other = paid(990);
        other.currency = "USD".into();
        assert!(matches!(
            other.check(price, &merchant()),
            Err(PaymentMismatch::Currency(_))
        ));
        let mut other = paid(990);
        other.mchid = "1".into();
        assert!(matches!(
            other.check(price, &merchant()),
            Err(PaymentMismatch::Mchid(_))
        ));
        let mut other = paid(990);
        other.appid = "wx1".into();
        assert!(matches!(
            other.check(price, &merchant()),
            Err(PaymentMismatch::Appid(_))
        ));
    }

    #[test]
    fn a_transaction_id_is_visible_ascii_of_bounded_length() {
        assert_eq!(
            TransactionId::parse("4200000000000000001")
                .unwrap()
                .as_str(),
            "4200000000000000001"
        );
        for bad in ["", "42 00", "42\n", "支付", &"4".repeat(65)] {
            assert!(TransactionId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
