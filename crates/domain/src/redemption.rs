//! Redemption codes (兑换码): an operator makes a batch of codes worth some quota and
//! models; a user redeems one, exactly once, through the one credit path. Codes are 80
//! random bits in Crockford's base 32, typed in groups of four, and stored only as keyed
//! digests (as login codes are), so a reader of the database cannot redeem one.

use crate::login_code::{LONG_CODE_ALPHABET, crockford, grouped};
use crate::product::{ModelType, ModelTypeError};
use chrono::{DateTime, Duration, Utc};
use std::fmt;

/// Symbols in a code: 16 × 5 = 80 random bits.
pub const CODE_SYMBOLS: usize = 16;
/// The random bytes a code is made from.
pub const CODE_BYTES: usize = CODE_SYMBOLS * 5 / 8;
/// The most codes one batch makes.
pub const MAX_BATCH: u32 = 1_000;

/// A redemption code, canonical (uppercase, no separators). `Debug` hides it: it is money.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedemptionCode(String);

/// The text is not a redemption code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a redemption code is {CODE_SYMBOLS} letters and digits, e.g. K7QM-9XRT-4HVD-2NPA")]
pub struct RedemptionCodeError;

impl RedemptionCode {
    /// Parses a code as a user typed it (case, spaces, hyphens and the look-alikes O, I, L
    /// do not matter).
    pub fn parse(text: &str) -> Result<Self, RedemptionCodeError> {
        crockford(text.trim(), CODE_SYMBOLS)
            .map(Self)
            .ok_or(RedemptionCodeError)
    }

    /// The code that `bytes` (uniformly random) spell.
    pub fn from_random(bytes: [u8; CODE_BYTES]) -> Self {
        let mut wide = [0u8; 16];
        wide[16 - CODE_BYTES..].copy_from_slice(&bytes);
        let bits = u128::from_be_bytes(wide);
        let symbols = (0..CODE_SYMBOLS)
            .rev()
            .map(|i| LONG_CODE_ALPHABET[((bits >> (5 * i)) & 31) as usize] as char)
            .collect();
        Self(symbols)
    }

    /// The canonical form (what is digested).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How it is handed out: groups of four (`K7QM-9XRT-4HVD-2NPA`).
    pub fn display(&self) -> String {
        grouped(&self.0, 4)
    }
}

impl fmt::Debug for RedemptionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedemptionCode(******)")
    }
}

/// A batch's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchId(pub i64);

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a batch's codes are worth, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTerms {
    pub count: u32,
    pub quota: u32,
    pub models: Vec<ModelType>,
    pub expires_at: DateTime<Utc>,
}

/// Why a batch's terms were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchTermsError {
    #[error("count must be 1 to {MAX_BATCH}, got {0}")]
    Count(i64),
    #[error("quota must be at least 1 (at most 4294967295), got {0}")]
    Quota(i64),
    #[error("modelTypes must name at least one model")]
    NoModels,
    #[error("modelTypes: {0}")]
    Models(#[from] ModelTypeError),
    #[error("expiresAt must be in the future and within 10 years")]
    Expiry,
}

impl BatchTerms {
    /// Parses an operator's request at `now`.
    pub fn parse(
        count: i64,
        quota: i64,
        models: &[String],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, BatchTermsError> {
        let count = u32::try_from(count)
            .ok()
            .filter(|c| (1..=MAX_BATCH).contains(c))
            .ok_or(BatchTermsError::Count(count))?;
        let quota = u32::try_from(quota)
            .ok()
            .filter(|q| *q >= 1)
            .ok_or(BatchTermsError::Quota(quota))?;
        let mut models = models
            .iter()
            .map(|m| ModelType::parse(m))
            .collect::<Result<Vec<_>, _>>()?;
        models.sort();
        models.dedup();
        if models.is_empty() {
            return Err(BatchTermsError::NoModels);
        }
        if expires_at <= now || expires_at > now + Duration::days(3_650) {
            return Err(BatchTermsError::Expiry);
        }
        Ok(Self {
            count,
            quota,
            models,
            expires_at,
        })
    }
}

/// A batch as stored, with how many of its codes were redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub id: BatchId,
    pub terms: BatchTerms,
    pub created_at: DateTime<Utc>,
    pub redeemed: u32,
}

/// A new batch: the stored batch and its codes, shown this once.
#[derive(Debug, Clone)]
pub struct IssuedBatch {
    pub batch: Batch,
    pub codes: Vec<RedemptionCode>,
}

/// What a redemption did, as the store saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// Credited: the quota and models of the code's batch, and the balance after.
    Redeemed {
        quota: u32,
        models: Vec<ModelType>,
        surplus_after: i64,
    },
    /// No such code.
    Unknown,
    /// Redeemed before (by anyone).
    Used,
    /// Past its batch's expiry.
    Expired,
}

/// The rule that limits failed redemptions, per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedeemPolicy {
    /// Failures a user may make within `failure_window` before being refused for a while.
    pub max_failures: u32,
    pub failure_window: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_80_random_bits_and_read_back_however_they_are_typed() {
        let code = RedemptionCode::from_random([0xA5; CODE_BYTES]);
        assert_eq!(code.as_str().len(), CODE_SYMBOLS);
        assert_ne!(
            RedemptionCode::from_random([0; CODE_BYTES]),
            RedemptionCode::from_random([0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        );
        assert_eq!(
            RedemptionCode::from_random([0xFF; CODE_BYTES]).as_str(),
            "ZZZZZZZZZZZZZZZZ"
        );
        let shown = code.display();
        assert_eq!(shown.len(), CODE_SYMBOLS + 3);
        assert_eq!(RedemptionCode::parse(&shown).unwrap(), code);
        assert_eq!(
            RedemptionCode::parse(&format!(" {} ", shown.to_lowercase().replace('-', " ")))
                .unwrap(),
            code
        );
        assert_eq!(
            RedemptionCode::parse("0I1L-0000-0000-0000")
                .unwrap()
                .as_str(),
            "0111000000000000"
        );
        for wrong in [
            "",
            "K7QM-9XRT-4HVD",
            "K7QM9XRT4HVD2NPAX",
            "K7QM-9XRT-4HVD-2NPU",
            "K7QM-9XRT-4HVD-2NP!",
        ] {
            assert_eq!(
                RedemptionCode::parse(wrong),
                Err(RedemptionCodeError),
                "{wrong}"
            );
        }
        assert!(!format!("{code:?}").contains(code.as_str()));
    }

    #[test]
    fn batch_terms_are_checked() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let later = now + Duration::days(30);
        let models = ["gpt-4o".to_owned()];
        let terms = BatchTerms::parse(10, 100, &models, later, now).unwrap();
        assert_eq!((terms.count, terms.quota, terms.models.len()), (10, 100, 1));
        assert_eq!(
            BatchTerms::parse(0, 100, &models, later, now),
            Err(BatchTermsError::Count(0))
        );
        assert_eq!(
            BatchTerms::parse(1_001, 100, &models, later, now),
            Err(BatchTermsError::Count(1_001))
        );
        assert_eq!(
            BatchTerms::parse(1, 0, &models, later, now),
            Err(BatchTermsError::Quota(0))
        );
        assert_eq!(
            BatchTerms::parse(1, 1, &[], later, now),
            Err(BatchTermsError::NoModels)
        );
        assert!(matches!(
            BatchTerms::parse(1, 1, &["bad model".to_owned()], later, now),
            Err(BatchTermsError::Models(_))
        ));
        assert_eq!(
            BatchTerms::parse(1, 1, &models, now, now),
            Err(BatchTermsError::Expiry)
        );
    }
}
