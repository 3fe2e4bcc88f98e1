//! Login: issuing a code to a follower of the official account, and redeeming it for the
//! user behind it, under limits that stop guessing without stopping honest users.
//!
//! - Failures are counted per address block ([`ClientPrefix`]): a block past its limit is
//!   refused for a while, nobody else is.
//! - Everyone's failures together decide how codes look: while they stay few, codes are
//!   six digits; once they reach `after_failures` within `window` (an attack), new codes
//!   are twelve base-32 symbols and six-digit codes are refused unchecked. So an attacker
//!   with any number of addresses gets at most `after_failures` six-digit guesses per
//!   window, and an honest user who asks for a code meanwhile gets one nobody can guess.

use crate::login_code::{
    AttemptCounts, ClientPrefix, CodeStrength, CodeTtl, IssueError, IssuedCode, LoginCode,
    LoginCodeError, MAX_ISSUE_ATTEMPTS, StoreCode,
};
use crate::ports::{Clock, CodeSource, CodeVault, LoginAttempts, LoginCodes};
use crate::user::UserId;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

/// When codes are long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongCodes {
    /// Always: six-digit codes are never issued nor accepted.
    Always,
    /// Once everyone's failures within `window` reach `after_failures`.
    UnderAttack {
        after_failures: u32,
        window: Duration,
    },
}

/// The rules login runs by, from `[login]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    /// How long a code lives.
    pub ttl: CodeTtl,
    /// Failures one address block may make within `failure_window` before it is refused.
    pub max_failures_per_prefix: u32,
    /// The sliding window of the per-block limit.
    pub failure_window: Duration,
    /// When codes are long.
    pub long_codes: LongCodes,
}

/// Why a code was not exchanged for a session.
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    /// This address block failed too often; nothing was checked.
    #[error("too many failed logins from your network; try again in {} s", retry_after.num_seconds())]
    Limited { retry_after: Duration },
    /// The text is not a code at all (it counts as a failure).
    #[error(transparent)]
    Malformed(#[from] LoginCodeError),
    /// Unknown, used or expired (which one is not said).
    #[error("the login code is wrong, used or expired")]
    Wrong,
    /// A six-digit code while codes are long: not checked; the user asks for a new one.
    #[error("login codes are longer now: send the official account a message for a new code")]
    ShortCodesOff,
    #[error(transparent)]
    Store(anyhow::Error),
}

/// The login service over its store (codes and attempts), a vault (the server keys), a code
/// source and a clock.
pub struct Login<S> {
    store: Arc<S>,
    vault: Arc<dyn CodeVault>,
    codes: Arc<dyn CodeSource>,
    clock: Arc<dyn Clock>,
    policy: LoginPolicy,
}

impl<S> Clone for Login<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            vault: self.vault.clone(),
            codes: self.codes.clone(),
            clock: self.clock.clone(),
            policy: self.policy,
        }
    }
}

impl<S> std::fmt::Debug for Login<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S: LoginCodes + LoginAttempts> Login<S> {
    /// Login over these parts.
    pub fn new(
        store: Arc<S>,
        vault: Arc<dyn CodeVault>,
        codes: Arc<dyn CodeSource>,
        clock: Arc<dyn Clock>,
        policy: LoginPolicy,
    ) -> Self {
        Self {
            store,
            vault,
            codes,
            clock,
            policy,
        }
    }

    /// The rules in force.
    pub fn policy(&self) -> &LoginPolicy {
        &self.policy
    }

    /// How strong a code issued now must be.
    pub async fn strength_now(&self) -> anyhow::Result<CodeStrength> {
        match self.policy.long_codes {
            LongCodes::Always => Ok(CodeStrength::Long),
            LongCodes::UnderAttack {
                after_failures,
                window,
            } => {
                let since = self.clock.now() - window;
                let failures = self.store.recent_failures(since, after_failures).await?;
                Ok(if failures >= after_failures {
                    CodeStrength::Long
                } else {
                    CodeStrength::Short
                })
            }
        }
    }

    /// The user's code: their live one if it is strong enough for the moment (asking again
    /// does not make a new one), else a new one.
    pub async fn issue(&self, user: &UserId) -> Result<IssuedCode, IssueError> {
        let strength = self.strength_now().await?;
        let now = self.clock.now();
        for _ in 0..MAX_ISSUE_ATTEMPTS {
            if let Some(live) = self.store.live_code(user, now).await? {
                match self.vault.open(&live.sealed, user) {
                    Some(code)
                        if strength == CodeStrength::Short || code.strength() == strength =>
                    {
                        return Ok(IssuedCode {
                            code,
                            user: user.clone(),
                            expires_at: live.expires_at,
                            reused: true,
                        });
                    }
                    // Too weak for the moment (or sealed under another key): replaced.
                    _ => self.store.revoke_code(user).await?,
                }
            }
            let code = self.codes.fresh_code(strength);
            let expires_at = self.policy.ttl.expires_at(now);
            let stored = self
                .store
                .store_code(
                    user,
                    &self.vault.digest(&code),
                    &self.vault.seal(&code, user),
                    now,
                    expires_at,
                )
                .await?;
            match stored {
                StoreCode::Stored => {
                    return Ok(IssuedCode {
                        code,
                        user: user.clone(),
                        expires_at,
                        reused: false,
                    });
                }
                // Another value, or (a concurrent issue won) the next round returns theirs.
                StoreCode::Collision | StoreCode::UserHasLiveCode => continue,
            }
        }
        Err(IssueError::Exhausted)
    }

    /// Exchanges the code the user typed, from `client`'s address block, for the user.
    pub async fn redeem(&self, typed: &str, client: &ClientPrefix) -> Result<UserId, RedeemError> {
        let now = self.clock.now();
        let policy = &self.policy;
        let (long_after, long_window) = match policy.long_codes {
            LongCodes::Always => (0, policy.failure_window),
            LongCodes::UnderAttack {
                after_failures,
                window,
            } => (after_failures, window),
        };
        let (attempt, counts) = self
            .store
            .begin_attempt(
                client,
                now,
                now - policy.failure_window,
                now - long_window,
                long_after.saturating_add(1),
            )
            .await
            .map_err(RedeemError::Store)?;
        // From here on, an early return leaves the attempt counted as a failure, unless
        // it is forgotten first.
        if counts.prefix_failures > policy.max_failures_per_prefix {
            self.forget(attempt).await?;
            return Err(RedeemError::Limited {
                retry_after: retry_after(&counts, policy.failure_window, now),
            });
        }
        let code = LoginCode::parse(typed)?;
        let short_codes_on = matches!(policy.long_codes, LongCodes::UnderAttack { .. })
            && counts.recent_failures <= long_after;
        if code.strength() == CodeStrength::Short && !short_codes_on {
            return Err(RedeemError::ShortCodesOff);
        }
        match self.store.redeem(&self.vault.digest(&code), now).await {
            Ok(Some(user)) => {
                self.forget(attempt).await?;
                Ok(user)
            }
            Ok(None) => Err(RedeemError::Wrong),
            Err(e) => {
                // The server failed, not the guess: it does not count against the client.
                self.forget(attempt).await?;
                Err(RedeemError::Store(e))
            }
        }
    }

    async fn forget(&self, attempt: crate::login_code::AttemptId) -> Result<(), RedeemError> {
        self.store
            .forget_attempt(attempt)
            .await
            .map_err(RedeemError::Store)
    }
}

/// How long until the block's oldest failure leaves the window (at least a second).
fn retry_after(counts: &AttemptCounts, window: Duration, now: DateTime<Utc>) -> Duration {
    let left = counts
        .prefix_oldest
        .map_or(window, |oldest| window - (now - oldest));
    left.max(Duration::seconds(1))
}

#[cfg(test)]
mod tests {
    //! The rules on their own: an in-memory store, a readable vault, scripted codes and
    //! a clock that moves only when told.
    use super::*;
    use crate::clock::ManualClock;
    use crate::login_code::{AttemptId, CodeDigest, SealedCode, StoredCode};
    use std::collections::HashMap;
    use std::net::IpAddr;
    use std::sync::Mutex;

    /// A stored code: (user, sealed copy, expiry, used).
    type Row = (UserId, SealedCode, DateTime<Utc>, bool);

    #[derive(Default)]
    struct Memory {
        /// By digest.
        codes: Mutex<HashMap<String, Row>>,
        attempts: Mutex<Vec<(i64, String, DateTime<Utc>)>>,
    }

    impl LoginCodes for Memory {
        async fn live_code(
            &self,
            user: &UserId,
            now: DateTime<Utc>,
        ) -> anyhow::Result<Option<StoredCode>> {
            let codes = self.codes.lock().unwrap();
            Ok(codes
                .values()
                .find(|(owner, _, expires, used)| owner == user && *expires > now && !*used)
                .map(|(_, sealed, expires_at, _)| StoredCode {
                    sealed: sealed.clone(),
                    expires_at: *expires_at,
                }))
        }

        async fn store_code(
            &self,
            user: &UserId,
            digest: &CodeDigest,
            sealed: &SealedCode,
            now: DateTime<Utc>,
            expires_at: DateTime<Utc>,
        ) -> anyhow::Result<StoreCode> {
            let mut codes = self.codes.lock().unwrap();
            codes
                .retain(|_, (owner, _, expires, used)| *expires > now && !(owner == user && *used));
            if codes.values().any(|(owner, ..)| owner == user) {
                return Ok(StoreCode::UserHasLiveCode);
            }
            if codes.contains_key(digest.as_str()) {
                return Ok(StoreCode::Collision);
            }
            codes.insert(
                digest.as_str().into(),
                (user.clone(), sealed.clone(), expires_at, false),
            );
            Ok(StoreCode::Stored)
        }

        async fn revoke_code(&self, user: &UserId) -> anyhow::Result<()> {
            self.codes
                .lock()
                .unwrap()
                .retain(|_, (owner, ..)| owner != user);
            Ok(())
        }

        async fn redeem(
            &self,
            digest: &CodeDigest,
            now: DateTime<Utc>,
        ) -> anyhow::Result<Option<UserId>> {
            let mut codes = self.codes.lock().unwrap();
            Ok(match codes.get_mut(digest.as_str()) {
                Some((user, _, expires, used)) if !*used && *expires > now => {
                    *used = true;
                    Some(user.clone())
                }
                _ => None,
            })
        }
    }

    impl LoginAttempts for Memory {
        async fn begin_attempt(
            &self,
            prefix: &ClientPrefix,
            now: DateTime<Utc>,
            prefix_since: DateTime<Utc>,
            recent_since: DateTime<Utc>,
            cap: u32,
        ) -> anyhow::Result<(AttemptId, AttemptCounts)> {
            let mut attempts = self.attempts.lock().unwrap();
            let id = attempts.len() as i64 + 1;
            attempts.push((id, prefix.as_str().into(), now));
            let mine: Vec<_> = attempts
                .iter()
                .filter(|(_, p, at)| p == prefix.as_str() && *at > prefix_since)
                .collect();
            let recent = attempts
                .iter()
                .filter(|(_, _, at)| *at > recent_since)
                .count();
            Ok((
                AttemptId(id),
                AttemptCounts {
                    prefix_failures: mine.len() as u32,
                    prefix_oldest: mine.iter().map(|(_, _, at)| *at).min(),
                    recent_failures: (recent as u32).min(cap),
                },
            ))
        }

        async fn forget_attempt(&self, id: AttemptId) -> anyhow::Result<()> {
            self.attempts.lock().unwrap().retain(|(i, _, _)| *i != id.0);
            Ok(())
        }

        async fn recent_failures(&self, since: DateTime<Utc>, cap: u32) -> anyhow::Result<u32> {
            let attempts = self.attempts.lock().unwrap();
            Ok((attempts.iter().filter(|(_, _, at)| *at > since).count() as u32).min(cap))
        }
    }

    /// Digests and seals that are the code itself, so a test can read the store.
    struct Plain;
    impl CodeVault for Plain {
        fn digest(&self, code: &LoginCode) -> CodeDigest {
            CodeDigest::new(code.as_str().to_owned())
        }
        fn seal(&self, code: &LoginCode, user: &UserId) -> SealedCode {
            SealedCode::new(format!("{user}:{}", code.as_str()))
        }
        fn open(&self, sealed: &SealedCode, user: &UserId) -> Option<LoginCode> {
            let (owner, code) = sealed.as_str().split_once(':')?;
            (owner == user.as_str()).then(|| LoginCode::parse(code).ok())?
        }
    }

    /// Short codes 100000, 100001, … and long codes from a counter.
    #[derive(Default)]
    struct Counting(Mutex<u64>);
    impl CodeSource for Counting {
        fn fresh_code(&self, strength: CodeStrength) -> LoginCode {
            let mut n = self.0.lock().unwrap();
            *n += 1;
            match strength {
                CodeStrength::Short => LoginCode::short_from_random(100_000 + *n as u32).unwrap(),
                CodeStrength::Long => LoginCode::long_from_random(0x0F0F_0F0F_0F0F_0000 + *n),
            }
        }
    }

    struct Fixture {
        login: Login<Memory>,
        clock: Arc<ManualClock>,
    }

    fn fixture(long_codes: LongCodes) -> Fixture {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let clock = Arc::new(ManualClock::at(start));
        let login = Login::new(
            Arc::new(Memory::default()),
            Arc::new(Plain),
            Arc::new(Counting::default()),
            clock.clone(),
            LoginPolicy {
                ttl: CodeTtl::from_secs(180).unwrap(),
                max_failures_per_prefix: 10,
                failure_window: Duration::minutes(10),
                long_codes,
            },
        );
        Fixture { login, clock }
    }

    fn under_attack_after(failures: u32) -> LongCodes {
        LongCodes::UnderAttack {
            after_failures: failures,
            window: Duration::hours(24),
        }
    }

    fn user(name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    fn block(n: u8) -> ClientPrefix {
        ClientPrefix::of(IpAddr::from([198, 51, n, 7]))
    }

    #[tokio::test]
    async fn a_code_logs_in_once_and_a_success_does_not_count() {
        let f = fixture(under_attack_after(20));
        for _ in 0..15 {
            let issued = f.login.issue(&user("oHonest")).await.unwrap();
            assert_eq!(issued.code.strength(), CodeStrength::Short);
            let typed = issued.code.display();
            assert_eq!(
                f.login.redeem(&typed, &block(1)).await.unwrap(),
                user("oHonest")
            );
            assert!(matches!(
                f.login.redeem(&typed, &block(1)).await,
                Err(RedeemError::Wrong)
            ));
            f.clock.advance(Duration::minutes(1));
        }
    }

    #[tokio::test]
    async fn asking_again_gets_the_live_code_until_it_is_used_or_expires() {
        let f = fixture(under_attack_after(20));
        let first = f.login.issue(&user("oAlice")).await.unwrap();
        f.clock.advance(Duration::seconds(60));
        let again = f.login.issue(&user("oAlice")).await.unwrap();
        assert!(again.reused && again.code == first.code);
        assert_eq!(
            again.expires_at, first.expires_at,
            "asking does not extend it"
        );
        f.clock.advance(Duration::seconds(120));
        assert!(matches!(
            f.login.redeem(first.code.as_str(), &block(1)).await,
            Err(RedeemError::Wrong)
        ));
        let fresh = f.login.issue(&user("oAlice")).await.unwrap();
        assert!(!fresh.reused && fresh.code != first.code);
        f.login
            .redeem(fresh.code.as_str(), &block(1))
            .await
            .unwrap();
        assert!(!f.login.issue(&user("oAlice")).await.unwrap().reused);
    }

    #[tokio::test]
    async fn a_short_live_code_gives_way_to_a_long_one_under_attack() {
        let f = fixture(under_attack_after(3));
        let short = f.login.issue(&user("oBob")).await.unwrap();
        assert_eq!(short.code.strength(), CodeStrength::Short);
        for b in 0..3 {
            let _ = f.login.redeem("999999", &block(b)).await;
        }
        let long = f.login.issue(&user("oBob")).await.unwrap();
        assert_eq!(long.code.strength(), CodeStrength::Long);
        assert!(!long.reused);
        // The long one stands when asked again.
        assert!(f.login.issue(&user("oBob")).await.unwrap().reused);
    }

    #[tokio::test]
    async fn a_block_past_its_limit_is_refused_and_nobody_else_is() {
        let f = fixture(under_attack_after(1_000));
        for _ in 0..10 {
            assert!(matches!(
                f.login.redeem("000000", &block(9)).await,
                Err(RedeemError::Wrong)
            ));
        }
        f.clock.advance(Duration::minutes(4));
        let issued = f.login.issue(&user("oNeighbour")).await.unwrap();
        match f.login.redeem(issued.code.as_str(), &block(9)).await {
            Err(RedeemError::Limited { retry_after }) => {
                assert_eq!(retry_after, Duration::minutes(6));
            }
            other => panic!("{other:?}"),
        }
        // Another block logs in with the very same code.
        assert!(
            f.login
                .redeem(issued.code.as_str(), &block(10))
                .await
                .is_ok()
        );
        // Once the window slid past the failures, the block may try again.
        f.clock.advance(Duration::minutes(6));
        assert!(matches!(
            f.login.redeem("000000", &block(9)).await,
            Err(RedeemError::Wrong)
        ));
    }

    #[tokio::test]
    async fn a_distributed_guessing_attack_turns_codes_long_and_an_honest_user_still_logs_in() {
        let f = fixture(under_attack_after(20));
        let victim = f.login.issue(&user("oVictim")).await.unwrap();
        assert_eq!(victim.code.strength(), CodeStrength::Short);
        // 40 blocks guess, each up to its limit: 400 failures in all.
        for b in 0..40 {
            for guess in 0..10u32 {
                let typed = format!("{:06}", 900_000 + u32::from(b) * 10 + guess);
                let refused = f.login.redeem(&typed, &block(b)).await.unwrap_err();
                assert!(
                    matches!(refused, RedeemError::Wrong | RedeemError::ShortCodesOff),
                    "{refused:?}"
                );
            }
        }
        // Even the victim's right six digits are not looked up any more.
        assert!(matches!(
            f.login.redeem(victim.code.as_str(), &block(200)).await,
            Err(RedeemError::ShortCodesOff)
        ));
        // The honest user asks for a code, gets a long one, and logs in at the first try.
        let honest = f.login.issue(&user("oHonest")).await.unwrap();
        assert_eq!(honest.code.strength(), CodeStrength::Long);
        assert_eq!(
            f.login
                .redeem(&honest.code.display(), &block(201))
                .await
                .unwrap(),
            user("oHonest")
        );
        // A day after the last failure, codes are short again.
        f.clock.advance(Duration::hours(24));
        let calm = f.login.issue(&user("oLater")).await.unwrap();
        assert_eq!(calm.code.strength(), CodeStrength::Short);
    }

    #[tokio::test]
    async fn at_most_after_failures_short_guesses_are_ever_looked_up() {
        let f = fixture(under_attack_after(20));
        let mut looked_up = 0;
        for b in 0..100u8 {
            match f.login.redeem("123456", &block(b)).await {
                Err(RedeemError::Wrong) => looked_up += 1,
                Err(RedeemError::ShortCodesOff) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(looked_up, 20);
    }

    #[tokio::test]
    async fn with_long_codes_always_no_six_digit_code_exists() {
        let f = fixture(LongCodes::Always);
        let issued = f.login.issue(&user("oCareful")).await.unwrap();
        assert_eq!(issued.code.strength(), CodeStrength::Long);
        assert!(matches!(
            f.login.redeem("123456", &block(1)).await,
            Err(RedeemError::ShortCodesOff)
        ));
        assert!(
            f.login
                .redeem(&issued.code.display(), &block(1))
                .await
                .is_ok()
        );
    }
}
