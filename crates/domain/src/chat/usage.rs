//! Spending quota on chat calls, and the usage record each call leaves.
//!
//! A call spends its price up front (one conditional write: never below zero, whatever runs
//! concurrently), and ends in exactly one way: `OK`, `FAILED` (the model broke off after
//! answering something; it counts), `CANCELLED` (the client left; it counts) or `REFUNDED`
//! (the model failed before its first token; the price goes back).

use super::pricing::Price;
use crate::account::{Account, AccountStatus};
use crate::product::ModelType;
use crate::user::UserId;
use chrono::{DateTime, Utc};
use std::fmt;

/// A usage record's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageId(pub i64);

impl fmt::Display for UsageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageStatus {
    /// Quota spent, the answer not finished yet (or the process died meanwhile).
    Started,
    /// Answered to the end.
    Ok,
    /// The model failed before its first token: the quota was given back.
    Refunded,
    /// The model failed after answering something: the call counts.
    Failed,
    /// The client went away: the call counts.
    Cancelled,
}

impl UsageStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "STARTED",
            Self::Ok => "OK",
            Self::Refunded => "REFUNDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Started,
            Self::Ok,
            Self::Refunded,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One chat call's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatUsage {
    pub id: UsageId,
    pub user_id: UserId,
    pub model: ModelType,
    /// The price spent (still counted unless `status` is REFUNDED); 0 on a trial call.
    pub quota_spent: i64,
    /// The trial window the call was counted in, if it was a free trial call.
    pub trial_window: Option<i64>,
    /// The API key the call was made with, if any.
    pub api_key_id: Option<i64>,
    /// The tokens it used, once known: the model's report, or our count for a call billed
    /// by the token whose model reported none.
    pub tokens: Option<TokenUsage>,
    pub status: UsageStatus,
    pub started_at: DateTime<Utc>,
    /// Milliseconds from the start to the model's first token, if one came.
    pub first_token_ms: Option<i64>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// What trying to spend quota on a call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// Spent; the call's usage record.
    Spent(UsageId),
    /// The user never had quota.
    NoAccount,
    /// The account is frozen.
    Frozen,
    /// The account's packages do not grant this model.
    ModelNotGranted,
    /// Not enough quota left for this call; all the account was ever credited.
    NoQuota { total: i64 },
    /// The free trial's calls of this period are used up.
    TrialUsedUp,
    /// The API key's own quota cap would be passed (or it was revoked meanwhile).
    KeyCapReached,
}

impl Spend {
    /// Why `account` may not spend `price` on `model`, or `None` if it may. The store
    /// asks before its conditional write (to tell the refusals apart) and again after the
    /// write found nothing to change (someone else spent or froze meanwhile).
    pub fn refusal(account: Option<&Account>, model: &ModelType, price: Price) -> Option<Spend> {
        let Some(account) = account else {
            return Some(Spend::NoAccount);
        };
        if account.status != AccountStatus::Usable {
            return Some(Spend::Frozen);
        }
        if !account.model_types.contains(model) {
            return Some(Spend::ModelNotGranted);
        }
        if account.surplus_quota < i64::from(price.get()) {
            return Some(Spend::NoQuota {
                total: account.total_quota,
            });
        }
        None
    }
}

/// The tokens a model reports for one call (prompt and completion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    pub prompt: u64,
    pub completion: u64,
}

impl TokenUsage {
    /// Both together.
    pub fn total(self) -> u64 {
        self.prompt + self.completion
    }
}

/// What a call that was not refunded used, and for one billed by the token what it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settlement {
    pub tokens: Option<TokenUsage>,
    pub charge: Option<Charge>,
}

/// A call billed by the token: what it reserved, and what it costs (never more); the
/// difference goes back to the account and the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    pub reserved: i64,
    pub spent: i64,
}

impl Charge {
    /// What goes back.
    pub fn returned(self) -> i64 {
        (self.reserved - self.spent).max(0)
    }
}

/// How a call that was not refunded ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageEnd {
    Ok,
    /// The model broke off after its first token; the error, for operators.
    Failed(String),
    Cancelled,
}

impl UsageEnd {
    /// The status it leaves.
    pub fn status(&self) -> UsageStatus {
        match self {
            Self::Ok => UsageStatus::Ok,
            Self::Failed(_) => UsageStatus::Failed,
            Self::Cancelled => UsageStatus::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(status: AccountStatus, surplus: i64, models: &str) -> Account {
        Account {
            user_id: UserId::parse("u").unwrap(),
            total_quota: 10,
            surplus_quota: surplus,
            model_types: ModelType::parse_list(models).unwrap(),
            status,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn each_refusal_is_told_apart() {
        let gpt = ModelType::parse("gpt-4o").unwrap();
        let two = Price::new(2).unwrap();
        let usable = account(AccountStatus::Usable, 2, "gpt-4o");
        assert_eq!(Spend::refusal(Some(&usable), &gpt, two), None);
        assert_eq!(Spend::refusal(None, &gpt, two), Some(Spend::NoAccount));
        let frozen = account(AccountStatus::Frozen, 2, "gpt-4o");
        assert_eq!(
            Spend::refusal(Some(&frozen), &gpt, two),
            Some(Spend::Frozen)
        );
        let other = account(AccountStatus::Usable, 2, "gpt-4o-mini");
        assert_eq!(
            Spend::refusal(Some(&other), &gpt, two),
            Some(Spend::ModelNotGranted)
        );
        let poor = account(AccountStatus::Usable, 1, "gpt-4o");
        assert_eq!(
            Spend::refusal(Some(&poor), &gpt, two),
            Some(Spend::NoQuota { total: 10 })
        );
    }

    #[test]
    fn statuses_round_trip() {
        for s in ["STARTED", "OK", "REFUNDED", "FAILED", "CANCELLED"] {
            assert_eq!(UsageStatus::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(UsageStatus::parse("ok"), None);
    }
}
