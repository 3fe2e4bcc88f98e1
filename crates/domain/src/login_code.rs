//! Logging in (DESIGN.md §1, auth): a follower of the official account asks for a code, the
//! account replies with it, and the code is exchanged once for a session.
//!
//! The rules live here: what a code looks like (six digits, or twelve letters and digits
//! while guessing is under way), how long it lives, that a user has one live code, that a
//! code is redeemed at most once, and how failed attempts are limited. The stores behind
//! the [`LoginCodes`] and [`LoginAttempts`] ports are shared by every instance; codes are
//! kept only as keyed digests ([`CodeDigest`]) and sealed copies ([`SealedCode`]), so a reader of
//! the database cannot use one.

use crate::user::UserId;
use chrono::{DateTime, Duration, Utc};
use std::fmt;
use std::net::IpAddr;

/// How many digits a short login code has.
pub const SHORT_CODE_DIGITS: usize = 6;
/// How many symbols a long login code has (60 bits).
pub const LONG_CODE_SYMBOLS: usize = 12;
/// The symbols of a long code: Crockford's base 32 (no I, L, O, U), so it reads aloud and
/// types without ambiguity.
pub const LONG_CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// How many fresh codes an issue tries before giving up (collisions with live codes).
pub const MAX_ISSUE_ATTEMPTS: u32 = 16;

/// The largest multiple of 10^6 that fits in a `u32`: random values at or above it are
/// refused by [`LoginCode::short_from_random`], so every code is equally likely.
const UNBIASED_LIMIT: u32 = (u32::MAX / 1_000_000) * 1_000_000;

/// How hard a code is to guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeStrength {
    /// Six digits (10^6 values): easy to type, safe only while guesses are few.
    Short,
    /// Twelve base-32 symbols (2^60 values): unguessable at any rate the limits allow.
    Long,
}

/// A login code, in its canonical form (digits, or uppercase base 32 without separators).
/// `Debug` hides it, since a code is a credential.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LoginCode(String);

/// The text is not a login code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a login code is {SHORT_CODE_DIGITS} digits, or {LONG_CODE_SYMBOLS} letters and digits")]
pub struct LoginCodeError;

impl LoginCode {
    /// Parses a code as a user typed it: surrounding whitespace, and in a long code spaces,
    /// hyphens, lowercase and the look-alikes O (0), I and L (1) are allowed.
    pub fn parse(text: &str) -> Result<Self, LoginCodeError> {
        let text = text.trim();
        if text.len() == SHORT_CODE_DIGITS && text.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self(text.to_owned()));
        }
        crockford(text, LONG_CODE_SYMBOLS)
            .map(Self)
            .ok_or(LoginCodeError)
    }

    /// A short code from a uniformly random `u32`, or `None` for the few values that would
    /// bias the distribution (draw again).
    pub fn short_from_random(random: u32) -> Option<Self> {
        (random < UNBIASED_LIMIT).then(|| Self(format!("{:06}", random % 1_000_000)))
    }

    /// A long code from 60 random bits (the low 60 of `random`).
    pub fn long_from_random(random: u64) -> Self {
        let symbols = (0..LONG_CODE_SYMBOLS)
            .rev()
            .map(|i| LONG_CODE_ALPHABET[((random >> (5 * i)) & 31) as usize] as char)
            .collect();
        Self(symbols)
    }

    /// How hard this code is to guess.
    pub fn strength(&self) -> CodeStrength {
        if self.0.len() == SHORT_CODE_DIGITS {
            CodeStrength::Short
        } else {
            CodeStrength::Long
        }
    }

    /// The canonical form (what is digested).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How it is shown to the user: a long code in groups of four (`K7QM-9XRT-4HVD`).
    pub fn display(&self) -> String {
        match self.strength() {
            CodeStrength::Short => self.0.clone(),
            CodeStrength::Long => grouped(&self.0, 4),
        }
    }
}

/// `symbols` symbols of Crockford's base 32 as a user typed them (spaces, hyphens,
/// lowercase and the look-alikes O (0), I and L (1) allowed), in canonical form.
pub(crate) fn crockford(text: &str, symbols: usize) -> Option<String> {
    let mut canonical = String::with_capacity(symbols);
    for c in text.chars() {
        let symbol = match c.to_ascii_uppercase() {
            ' ' | '-' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c if c.is_ascii() && LONG_CODE_ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        canonical.push(symbol);
        if canonical.len() > symbols {
            return None;
        }
    }
    (canonical.len() == symbols).then_some(canonical)
}

/// ASCII `text` in groups of `size` joined by hyphens (`K7QM-9XRT-4HVD`).
pub(crate) fn grouped(text: &str, size: usize) -> String {
    text.as_bytes()
        .chunks(size)
        .map(|group| std::str::from_utf8(group).expect("ASCII"))
        .collect::<Vec<_>>()
        .join("-")
}

impl fmt::Debug for LoginCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoginCode(******)")
    }
}

/// What the store looks a code up by: a keyed digest (HMAC-SHA-256 under a server key,
/// hex), which cannot be turned back into the code.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CodeDigest(String);

impl CodeDigest {
    /// A digest as the vault wrote it (lowercase hex).
    pub fn new(hex: String) -> Self {
        Self(hex)
    }

    /// The digest as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeDigest(…)")
    }
}

/// A code encrypted under a server key for the user it was issued to, so the account can
/// send a live code again (a user asking twice, WeChat retrying a message) while the
/// database alone reveals nothing usable.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedCode(String);

impl SealedCode {
    /// A sealed code as the vault wrote it (text).
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The sealed code as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedCode(…)")
    }
}

/// A user's live code as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    pub sealed: SealedCode,
    pub expires_at: DateTime<Utc>,
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

/// The address block failed logins are counted against: an IPv4 /24 or an IPv6 /48 (what
/// one network usually holds), so an attacker cannot spread guesses over its neighbours,
/// and nobody outside the block is affected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientPrefix(String);

impl ClientPrefix {
    /// The block `ip` belongs to (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn of(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                Self(format!("{a}.{b}.{c}.0/24"))
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                Self(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
            }
        }
    }

    /// The block as stored, e.g. `203.0.113.0/24`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
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

/// What storing a new code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCode {
    /// It is the user's one live code now.
    Stored,
    /// Another live code has the same digest: draw another.
    Collision,
    /// The user has a live code already (a concurrent issue stored it first): use it.
    UserHasLiveCode,
}

/// One login attempt, counted as a failure until it is forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptId(pub i64);

/// The failures an attempt was counted among, its own included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptCounts {
    /// Failures of the attempt's address block since the per-block window began.
    pub prefix_failures: u32,
    /// When the oldest of those happened.
    pub prefix_oldest: Option<DateTime<Utc>>,
    /// Failures of everyone since the long-code window began (counted up to a cap).
    pub recent_failures: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_code_is_exactly_six_ascii_digits() {
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
    fn a_long_code_reads_as_typed() {
        let code = LoginCode::parse("K7QM-9XRT-4HVD").unwrap();
        assert_eq!(code.as_str(), "K7QM9XRT4HVD");
        assert_eq!(code.strength(), CodeStrength::Long);
        assert_eq!(code.display(), "K7QM-9XRT-4HVD");
        for typed in ["k7qm 9xrt 4hvd", " K7QM9XRT4HVD ", "k7qm-9xrt-4hvd"] {
            assert_eq!(LoginCode::parse(typed).unwrap(), code, "{typed:?}");
        }
        // Look-alikes read as the symbol they look like.
        assert_eq!(
            LoginCode::parse("OIL0-0000-0000").unwrap().as_str(),
            "011000000000"
        );
        for bad in [
            "K7QM-9XRT-4HV",
            "K7QM-9XRT-4HVDX",
            "K7QM-9XRT-4HVU",
            "K7QM_9XRT_4HVD",
            "K7QM-9XRT-4HVＤ",
        ] {
            assert_eq!(LoginCode::parse(bad), Err(LoginCodeError), "{bad:?}");
        }
    }

    #[test]
    fn random_values_map_evenly_to_codes() {
        assert_eq!(LoginCode::short_from_random(0).unwrap().as_str(), "000000");
        assert_eq!(
            LoginCode::short_from_random(1_000_007).unwrap().as_str(),
            "000007"
        );
        assert_eq!(
            LoginCode::short_from_random(UNBIASED_LIMIT - 1)
                .unwrap()
                .as_str(),
            "999999"
        );
        assert!(LoginCode::short_from_random(UNBIASED_LIMIT).is_none());
        assert!(LoginCode::short_from_random(u32::MAX).is_none());
        assert_eq!(LoginCode::long_from_random(0).as_str(), "000000000000");
        assert_eq!(
            LoginCode::long_from_random(u64::MAX).as_str(),
            "ZZZZZZZZZZZZ"
        );
        assert_eq!(LoginCode::long_from_random(33).as_str(), "000000000011");
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
        assert_eq!(ttl.expires_at(now), now + Duration::seconds(180));
    }

    #[test]
    fn addresses_are_counted_by_their_block() {
        let prefix = |ip: &str| ClientPrefix::of(ip.parse().unwrap()).as_str().to_owned();
        assert_eq!(prefix("203.0.113.7"), "203.0.113.0/24");
        assert_eq!(prefix("203.0.113.250"), "203.0.113.0/24");
        assert_ne!(prefix("203.0.114.7"), prefix("203.0.113.7"));
        assert_eq!(prefix("::ffff:203.0.113.9"), "203.0.113.0/24");
        assert_eq!(prefix("2001:db8:aa:1::1"), "2001:db8:aa::/48");
        assert_eq!(prefix("2001:db8:aa:ffff::9"), "2001:db8:aa::/48");
    }
}
