//! A payment as WeChat Pay reports it, and the checks that decide whether it pays an order.

use crate::money::Fen;
use chrono::{DateTime, Utc};

/// The merchant this shop is, as a payment must name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantIdentity {
    pub mchid: String,
    pub appid: String,
}

/// A successful payment reported by the channel (a verified notify or a query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentConfirmation {
    pub out_trade_no: String,
    pub transaction_id: String,
    pub mchid: String,
    pub appid: String,
    /// `amount.total` in fen as reported (may be anything: it is checked, not trusted).
    pub total: i64,
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
    #[error("amount: paid {paid} fen, the order is {expected} yuan")]
    Amount { expected: Fen, paid: i64 },
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
        if self.total != amount.as_i64() {
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

    fn paid(total: i64) -> PaymentConfirmation {
        PaymentConfirmation {
            out_trade_no: "2026112815220000100001".into(),
            transaction_id: "4200000000000000001".into(),
            mchid: "1900007291".into(),
            appid: "wx0000000000000001".into(),
            total,
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
                paid: 1
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
}
