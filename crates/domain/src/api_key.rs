//! API keys: what a user makes so that an OpenAI client spends their quota (`sk-cm-…`).
//! Only the key's digest is stored; the key itself is shown once, when it is made. A key
//! may be limited to some models and to a quota of its own (a cap on what it may spend).

use crate::product::{ModelType, ModelTypeError};
use crate::user::UserId;
use chrono::{DateTime, Utc};
use std::fmt;

/// The prefix every key starts with, so that a key is told from a session token.
pub const KEY_PREFIX: &str = "sk-cm-";

/// A key's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyId(pub i64);

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A key's name, as its owner gave it: 1 to 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

/// Why a new key's terms were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NewKeyError {
    #[error("a key's name is 1 to 64 characters without control characters")]
    Name,
    #[error("a key's quota cap is at least 1")]
    Cap,
    #[error("a key's models: {0}")]
    Models(#[from] ModelTypeError),
}

impl KeyName {
    /// Parses a name, trimmed.
    pub fn parse(text: &str) -> Result<Self, NewKeyError> {
        let text = text.trim();
        let chars = text.chars().count();
        if (1..=64).contains(&chars) && !text.chars().any(char::is_control) {
            Ok(Self(text.to_owned()))
        } else {
            Err(NewKeyError::Name)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a new key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTerms {
    pub name: KeyName,
    /// The most quota the key may spend in all; `None`: the account's whole balance.
    pub quota_cap: Option<i64>,
    /// The models it may use; empty: all the account's.
    pub models: Vec<ModelType>,
}

impl KeyTerms {
    /// Parses a name, an optional cap and a comma-separated model list (empty: all).
    pub fn parse(name: &str, quota_cap: Option<i64>, models: &str) -> Result<Self, NewKeyError> {
        if quota_cap.is_some_and(|cap| cap < 1) {
            return Err(NewKeyError::Cap);
        }
        Ok(Self {
            name: KeyName::parse(name)?,
            quota_cap,
            models: ModelType::parse_list(models)?,
        })
    }
}

/// A stored key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub name: KeyName,
    /// The key's first characters, to tell keys apart in a list (`sk-cm-AbC1…`).
    pub hint: String,
    pub quota_cap: Option<i64>,
    /// Quota spent through this key (calls given back are not counted).
    pub quota_spent: i64,
    pub models: Vec<ModelType>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Whether the key may call `model` (the account must still grant it).
    pub fn allows(&self, model: &ModelType) -> bool {
        self.models.is_empty() || self.models.contains(model)
    }

    /// Whether the key still works.
    pub fn is_live(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// Who a chat call is made for: a user, through one of their keys or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: UserId,
    pub key: Option<ApiKey>,
}

impl From<UserId> for Caller {
    fn from(user: UserId) -> Self {
        Self { user, key: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_checked() {
        let terms = KeyTerms::parse(" laptop ", Some(100), "gpt-4o,gpt-4o-mini").unwrap();
        assert_eq!(terms.name.as_str(), "laptop");
        assert_eq!(terms.models.len(), 2);
        assert_eq!(KeyTerms::parse("", None, ""), Err(NewKeyError::Name));
        assert_eq!(
            KeyTerms::parse(&"x".repeat(65), None, ""),
            Err(NewKeyError::Name)
        );
        assert_eq!(KeyTerms::parse("a\u{7}b", None, ""), Err(NewKeyError::Name));
        assert_eq!(KeyTerms::parse("ok", Some(0), ""), Err(NewKeyError::Cap));
        assert!(matches!(
            KeyTerms::parse("ok", None, "bad model"),
            Err(NewKeyError::Models(_))
        ));
        assert!(
            KeyTerms::parse("全是中文的名字", None, "")
                .unwrap()
                .models
                .is_empty()
        );
    }
}
