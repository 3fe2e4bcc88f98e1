//! A user's account: the chat quota they bought and the models it opens.

use crate::product::ModelType;
use crate::user::UserId;
use chrono::{DateTime, Utc};

/// Whether an account may spend its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Usable,
    Frozen,
}

impl AccountStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Usable => "USABLE",
            Self::Frozen => "FROZEN",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Usable, Self::Frozen]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A user's quota account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user_id: UserId,
    /// All quota ever credited.
    pub total_quota: i64,
    /// Quota left to spend.
    pub surplus_quota: i64,
    /// The models this account may use: the union of those granted by delivered packages.
    pub model_types: Vec<ModelType>,
    pub status: AccountStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Account {
    /// The granted models after adding `more` (sorted, no repeats).
    pub fn models_with(&self, more: &[ModelType]) -> Vec<ModelType> {
        let mut all: Vec<ModelType> = self.model_types.iter().chain(more).cloned().collect();
        all.sort();
        all.dedup();
        all
    }
}
