//! The people who run the shop (issue 15 §1): operator accounts with a role, their console
//! sessions, and the audit log of what they did.
//!
//! A viewer sees everything and changes nothing; an admin acts. The static `admin.token`
//! (for automation) is its own actor, with an admin's rights.

use chrono::{DateTime, Utc};
use std::fmt;

/// An operator's login name: 1 to 32 of `a-z`, `0-9`, `.`, `_`, `-` (lower-cased on parse,
/// so `Alice` and `alice` are one account).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OperatorName(String);

/// Why a name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an operator name is 1 to 32 of a-z, 0-9, '.', '_' and '-'")]
pub struct BadOperatorName;

impl OperatorName {
    /// Parses a login name.
    pub fn parse(text: &str) -> Result<Self, BadOperatorName> {
        let name = text.trim().to_ascii_lowercase();
        let fits = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        // `admin-token` names the static token's actor in the audit log and the history.
        if !fits || name == ADMIN_TOKEN_ACTOR {
            return Err(BadOperatorName);
        }
        Ok(Self(name))
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperatorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Acts: refunds, edits, adjustments, runs.
    Admin,
    /// Sees everything, changes nothing.
    Viewer,
}

/// Why a role was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a role is admin or viewer")]
pub struct BadRole;

impl Role {
    /// Parses `admin` or `viewer`.
    pub fn parse(text: &str) -> Result<Self, BadRole> {
        match text.trim() {
            "admin" => Ok(Self::Admin),
            "viewer" => Ok(Self::Viewer),
            _ => Err(BadRole),
        }
    }

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Viewer => "viewer",
        }
    }
}

/// A password as typed: 12 to 1,024 bytes. Never printed.
pub struct Password(String);

/// Why a password was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a password is 12 to 1024 bytes")]
pub struct BadPassword;

impl Password {
    /// Takes a new password, refusing one too short to resist guessing (or too long to hash
    /// cheaply).
    pub fn new(text: String) -> Result<Self, BadPassword> {
        if !(12..=1024).contains(&text.len()) {
            return Err(BadPassword);
        }
        Ok(Self(text))
    }

    /// A password offered at login: only its length is bounded (a short one simply fails).
    pub fn offered(text: String) -> Result<Self, BadPassword> {
        if text.is_empty() || text.len() > 1024 {
            return Err(BadPassword);
        }
        Ok(Self(text))
    }

    /// The text, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// A password's hash as stored (a PHC string, e.g. `$argon2id$…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

/// An operator's account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorAccount {
    pub id: i64,
    pub name: OperatorName,
    pub role: Role,
    pub password_hash: PasswordHash,
    pub created_at: DateTime<Utc>,
}

/// The name the static admin token acts under.
pub const ADMIN_TOKEN_ACTOR: &str = "admin-token";

/// Who is asking: an operator by session, or the static admin token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A logged-in operator.
    Operator { name: OperatorName, role: Role },
    /// The static `admin.token` (automation).
    AdminToken,
}

impl Actor {
    /// The name written to the audit log and to the history's cause.
    pub fn name(&self) -> &str {
        match self {
            Self::Operator { name, .. } => name.as_str(),
            Self::AdminToken => ADMIN_TOKEN_ACTOR,
        }
    }

    /// Whether this actor may change anything.
    pub fn may_act(&self) -> bool {
        match self {
            Self::Operator { role, .. } => *role == Role::Admin,
            Self::AdminToken => true,
        }
    }

    /// Its role: the token has an admin's.
    pub fn role(&self) -> Role {
        match self {
            Self::Operator { role, .. } => *role,
            Self::AdminToken => Role::Admin,
        }
    }
}

/// The SHA-256 of a console session's token, lower-case hex: what the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDigest(pub String);

/// A live console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSession {
    pub operator: OperatorAccount,
    /// The digest of the session's CSRF token (every state-changing form carries the token).
    pub csrf_digest: String,
    pub expires_at: DateTime<Utc>,
}

/// The failures an operator login attempt was counted among, its own included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorAttemptCounts {
    /// Failures against the account's name from the attempt's address block in the window
    /// (not from everywhere: else anyone could keep an operator locked out).
    pub by_name: u32,
    /// Failures from the address block in the window.
    pub by_address: u32,
}

/// What an operator did, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Login,
    Logout,
    Refund,
    ProductCreate,
    ProductEdit,
    QuotaAdjust,
    Freeze,
    Unfreeze,
    RevokeKey,
    CodeBatch,
    Reconciliation,
    Recheck,
    ResolveReview,
}

impl AuditAction {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Logout => "logout",
            Self::Refund => "refund",
            Self::ProductCreate => "product.create",
            Self::ProductEdit => "product.edit",
            Self::QuotaAdjust => "account.adjust",
            Self::Freeze => "account.freeze",
            Self::Unfreeze => "account.unfreeze",
            Self::RevokeKey => "key.revoke",
            Self::CodeBatch => "redemption.batch",
            Self::Reconciliation => "reconciliation.run",
            Self::Recheck => "order.recheck",
            Self::ResolveReview => "order.resolve",
        }
    }
}

/// One line of the audit log: who, when, what, on what, before and after (as JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    /// What it acted on (an order number, a product id, a user id, a date).
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub at: DateTime<Utc>,
}

impl AuditEntry {
    /// `actor` did `action` on `target` at `at`, taking it from `before` to `after`.
    pub fn new(
        actor: &Actor,
        action: AuditAction,
        target: impl Into<String>,
        before: Option<String>,
        after: Option<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            actor: actor.name().to_owned(),
            action: action.as_str().to_owned(),
            target: target.into(),
            before,
            after,
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_cased_and_bounded() {
        assert_eq!(OperatorName::parse(" Alice ").unwrap().as_str(), "alice");
        assert_eq!(
            OperatorName::parse("ops.team_1-b").unwrap().as_str(),
            "ops.team_1-b"
        );
        for bad in [
            "",
            "a b",
            "名字",
            "x".repeat(33).as_str(),
            "admin-token",
            "a/b",
        ] {
            assert_eq!(OperatorName::parse(bad), Err(BadOperatorName), "{bad:?}");
        }
    }

    #[test]
    fn only_an_admin_or_the_token_acts() {
        let viewer = Actor::Operator {
            name: OperatorName::parse("v").unwrap(),
            role: Role::Viewer,
        };
        let admin = Actor::Operator {
            name: OperatorName::parse("a").unwrap(),
            role: Role::Admin,
        };
        assert!(!viewer.may_act());
        assert!(admin.may_act());
        assert!(Actor::AdminToken.may_act());
        assert_eq!(Actor::AdminToken.name(), "admin-token");
        assert_eq!(Role::parse("viewer"), Ok(Role::Viewer));
        assert_eq!(Role::parse("root"), Err(BadRole));
    }

    #[test]
    fn passwords_are_bounded_and_never_printed() {
        assert_eq!(Password::new("short".into()).err(), Some(BadPassword));
        let p = Password::new("correct horse battery".into()).unwrap();
        assert_eq!(format!("{p:?}"), "Password(…)");
        assert!(Password::offered("x".into()).is_ok());
        assert!(Password::offered(String::new()).is_err());
    }
}
