//! Logging in (DESIGN.md §1, auth): a follower of the official account asks for a code, the
//! account replies with it, and the code is exchanged once for a session.
//!
//! The rules live here: what a code looks like, how long it lives, that one user has at
//! most one live code, and that a code is redeemed at most once. The [`LoginCodes`] port
//! keeps them in a store every instance shares.

use crate::user::UserId;
use chrono::{DateTime, Duration, Utc};
use std::fmt;
use std::future::Future;

/// How many digits a login code has.
pub const CODE_DIGITS: usize = 6;

/// How many fresh codes an issue tries before giving up (collisions with live codes).
pub const MAX_ISSUE_ATTEMPTS: u32 = 16;

/// The largest multiple of 10^6 that fits in a `u32`: random values at or above it are
/// refused by [`LoginCode::from_random`], so every code is equally likely.
const UNBIASED_LIMIT: u32 = (u32::MAX / 1_000_000) * 1_000_000;

/// A login code: exactly six ASCII digits. `Debug` hides it, since a code is a credential.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LoginCode(String);

/// The text is not a login code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a login code is exactly {CODE_DIGITS} digits")]
pub struct LoginCodeError;

impl LoginCode {
    /// Parses a code as a user typed it (surrounding whitespace allowed).
    pub fn parse(text: &str) -> Result<Self, LoginCodeError> {
        let text = text.trim();
        if text.len() == CODE_DIGITS && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(LoginCodeError)
        }
    }

    /// A code from a uniformly random `u32`, or `None` for the few values that would bias
    /// the distribution (draw again).
    pub fn from_random(random: u32) -> Option<Self> {
        (random < UNBIASED_LIMIT).then(|| Self(format!("{:06}", random % 1_000_000)))
    }

    /// The six digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LoginCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoginCode(******)")
    }
}

/// How long a code lives; at least a second, at most a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeTtl(Duration);

/// The lifetime is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a login code lives 1 to 86400 seconds, got {0}")]
pub struct CodeTtlError(pub i64);

impl CodeTtl {
    /// A lifetime of `secs` seconds.
    pub fn from_secs(secs: i64) -> Result<Self, CodeTtlError> {
        if (1..=86_400).contains(&secs) {
            Ok(Self(Duration::seconds(secs)))
        } else {
            Err(CodeTtlError(secs))
        }
    }

    /// The lifetime.
    pub fn get(self) -> Duration {
        self.0
    }

    /// When a code issued at `now` stops being accepted.
    pub fn expires_at(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.0
    }
}

/// A code handed to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCode {
    pub code: LoginCode,
    pub user: UserId,
    /// The first instant at which the code is refused.
    pub expires_at: DateTime<Utc>,
    /// The user already had this live code (asking again does not make a new one).
    pub reused: bool,
}

impl IssuedCode {
    /// Whether the code is still accepted at `now` (if unused).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// Where fresh codes come from: a CSPRNG in production, a script in tests.
pub trait CodeSource: Send + Sync {
    /// A new candidate code.
    fn fresh_code(&self) -> LoginCode;
}

/// Why no code could be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// Every candidate collided with a live code (the code space is crowded).
    #[error("no free login code after {MAX_ISSUE_ATTEMPTS} attempts")]
    Exhausted,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Login codes, kept where every instance sees them.
///
/// Rules the implementation keeps: a user has at most one live (unused, unexpired) code and
/// asking again returns it; live codes are unique; redeeming is one conditional write, so a
/// code is accepted at most once however many callers race.
pub trait LoginCodes: Send + Sync + 'static {
    /// The user's live code, or a new one from `source` that lives `ttl` from `now`.
    fn issue(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        ttl: CodeTtl,
        source: &dyn CodeSource,
    ) -> impl Future<Output = Result<IssuedCode, IssueError>> + Send;

    /// Uses the code up: the user it was issued to, or `None` when it is unknown, used or
    /// expired (the caller cannot tell which, and neither can an attacker).
    fn redeem(
        &self,
        code: &LoginCode,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Option<UserId>>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_exactly_six_ascii_digits() {
        assert_eq!(LoginCode::parse("012345").unwrap().as_str(), "012345");
        assert_eq!(LoginCode::parse(" 999999\n").unwrap().as_str(), "999999");
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "１２３４５６",
            "12 345",
            "-12345",
        ] {
            assert_eq!(LoginCode::parse(bad), Err(LoginCodeError), "{bad:?}");
        }
    }

    #[test]
    fn random_values_map_evenly_to_codes() {
        assert_eq!(LoginCode::from_random(0).unwrap().as_str(), "000000");
        assert_eq!(
            LoginCode::from_random(1_000_007).unwrap().as_str(),
            "000007"
        );
        assert_eq!(
            LoginCode::from_random(UNBIASED_LIMIT - 1).unwrap().as_str(),
            "999999"
        );
        assert!(LoginCode::from_random(UNBIASED_LIMIT).is_none());
        assert!(LoginCode::from_random(u32::MAX).is_none());
    }

    #[test]
    fn debug_output_hides_the_code() {
        let code = LoginCode::parse("314159").unwrap();
        assert!(!format!("{code:?}").contains("314159"));
    }

    #[test]
    fn a_code_expires_after_its_ttl() {
        assert!(CodeTtl::from_secs(0).is_err());
        assert!(CodeTtl::from_secs(86_401).is_err());
        let ttl = CodeTtl::from_secs(180).unwrap();
        let now = DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
        let issued = IssuedCode {
            code: LoginCode::parse("123456").unwrap(),
            user: UserId::parse("oUser").unwrap(),
            expires_at: ttl.expires_at(now),
            reused: false,
        };
        assert!(issued.is_live(now));
        assert!(issued.is_live(now + Duration::seconds(179)));
        assert!(!issued.is_live(now + Duration::seconds(180)));
    }
}
