//! The operators' console (issue 15 §1): accounts, login under failure limits, sessions
//! with a CSRF token, and the audit log every operator action is written to.

use crate::login_code::ClientPrefix;
use crate::operator::{
    Actor, AuditAction, AuditEntry, OperatorAccount, OperatorName, OperatorSession, Password, Role,
    SessionDigest,
};
use crate::ports::{AuditLog, Clock, OperatorKeys, Operators};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

/// The console's limits.
#[derive(Debug, Clone, Copy)]
pub struct ConsolePolicy {
    /// Failed logins on one account within `window` before it is refused for a while.
    pub failures_per_account: u32,
    /// Failed logins from one address block within `window` before it is refused.
    pub failures_per_address: u32,
    /// The failure window.
    pub window: Duration,
    /// How long a session lives.
    pub session_ttl: Duration,
}

/// A session just opened: its tokens are handed to the browser this once.
#[derive(Debug)]
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
    pub operator: OperatorAccount,
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleLoginError {
    /// Too many failures lately; nothing was checked.
    #[error("too many failed logins; try again in {} minutes", retry_after.num_minutes().max(1))]
    Limited { retry_after: Duration },
    /// The name or the password is wrong (which one is not said).
    #[error("wrong name or password")]
    Wrong,
    #[error(transparent)]
    Store(anyhow::Error),
}

/// What `create_operator` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Created,
    /// The account existed: it has the new password and role, and its sessions ended.
    Reset,
}

/// Why an account was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveOperatorError {
    #[error("operator {0} exists (pass --reset to give it a new password)")]
    Taken(OperatorName),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// The console over its store, its keys and the clock.
pub struct Console<S, K> {
    store: Arc<S>,
    keys: Arc<K>,
    clock: Arc<dyn Clock>,
    policy: ConsolePolicy,
}

impl<S, K> Clone for Console<S, K> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            keys: self.keys.clone(),
            clock: self.clock.clone(),
            policy: self.policy,
        }
    }
}

impl<S: Operators + AuditLog, K: OperatorKeys> Console<S, K> {
    /// The console over these parts.
    pub fn new(store: Arc<S>, keys: Arc<K>, clock: Arc<dyn Clock>, policy: ConsolePolicy) -> Self {
        Self {
            store,
            keys,
            clock,
            policy,
        }
    }

    /// Creates an account, or with `reset` gives an existing one a new password and role.
    pub async fn save_operator(
        &self,
        name: &OperatorName,
        role: Role,
        password: &Password,
        reset: bool,
    ) -> Result<Saved, SaveOperatorError> {
        let hash = self.keys.hash(password).await?;
        let now = self.clock.now();
        if self.store.create_operator(name, role, &hash, now).await? {
            return Ok(Saved::Created);
        }
        if reset && self.store.reset_operator(name, role, &hash, now).await? {
            return Ok(Saved::Reset);
        }
        Err(SaveOperatorError::Taken(name.clone()))
    }

    /// Logs `name` in with `password` from `prefix`: a session, or why not. Each attempt
    /// is counted before it is checked and forgotten unless it failed, so parallel guesses
    /// cannot slip past the limits.
    pub async fn login(
        &self,
        name: &str,
        password: &Password,
        prefix: &ClientPrefix,
    ) -> Result<NewSession, ConsoleLoginError> {
        // A name that cannot exist fails without a lookup (it could never succeed).
        let Ok(name) = OperatorName::parse(name) else {
            return Err(ConsoleLoginError::Wrong);
        };
        let now = self.clock.now();
        let p = self.policy;
        let (attempt, counts) = self
            .store
            .begin_operator_attempt(&name, prefix, now, now - p.window)
            .await
            .map_err(ConsoleLoginError::Store)?;
        if counts.by_name > p.failures_per_account || counts.by_address > p.failures_per_address {
            self.forget(attempt).await?;
            // No name in the log: a password typed into the name field would land there.
            tracing::warn!(prefix = prefix.as_str(), "operator login limited");
            return Err(ConsoleLoginError::Limited {
                retry_after: p.window,
            });
        }
        let account = self
            .store
            .operator(&name)
            .await
            .map_err(ConsoleLoginError::Store)?;
        let hash = account.as_ref().map(|a| &a.password_hash);
        if !self.keys.verify(hash, password).await {
            match &account {
                Some(_) => {
                    tracing::warn!(operator = %name, prefix = prefix.as_str(), "operator login failed")
                }
                None => tracing::warn!(
                    prefix = prefix.as_str(),
                    "operator login failed: no such operator"
                ),
            }
            return Err(ConsoleLoginError::Wrong);
        }
        let account = account.ok_or(ConsoleLoginError::Wrong)?;
        self.forget(attempt).await?;
        let verified = account.password_hash.clone();
        let session = self.open(account, now).await?;
        // A reset between the check and the session's row would leave the old password's
        // session alive: read the account again after, and end it if its password moved.
        let current = self
            .store
            .operator(&name)
            .await
            .map_err(ConsoleLoginError::Store)?;
        if current.is_none_or(|a| a.password_hash != verified) {
            self.store
                .end_session(&SessionDigest(self.keys.digest(&session.token)), now)
                .await
                .map_err(ConsoleLoginError::Store)?;
            return Err(ConsoleLoginError::Wrong);
        }
        let actor = actor_of(&session.operator);
        self.audit(&actor, AuditAction::Login, name.as_str(), None, None)
            .await
            .map_err(ConsoleLoginError::Store)?;
        Ok(session)
    }

    async fn forget(&self, attempt: crate::login_code::AttemptId) -> Result<(), ConsoleLoginError> {
        self.store
            .forget_operator_attempt(attempt)
            .await
            .map_err(ConsoleLoginError::Store)
    }

    async fn open(
        &self,
        operator: OperatorAccount,
        now: DateTime<Utc>,
    ) -> Result<NewSession, ConsoleLoginError> {
        let token = self.keys.fresh_token();
        let csrf = self.keys.fresh_token();
        let expires_at = now + self.policy.session_ttl;
        self.store
            .open_session(
                operator.id,
                &SessionDigest(self.keys.digest(&token)),
                &self.keys.digest(&csrf),
                now,
                expires_at,
            )
            .await
            .map_err(ConsoleLoginError::Store)?;
        Ok(NewSession {
            token,
            csrf,
            expires_at,
            operator,
        })
    }

    /// The live session of a browser's token.
    pub async fn session(&self, token: &str) -> anyhow::Result<Option<OperatorSession>> {
        self.store
            .session(&SessionDigest(self.keys.digest(token)), self.clock.now())
            .await
    }

    /// Whether `given` is the session's CSRF token.
    pub fn csrf_matches(&self, session: &OperatorSession, given: &str) -> bool {
        // Digests of equal length are compared: their timing says nothing of the token.
        !given.is_empty() && self.keys.digest(given) == session.csrf_digest
    }

    /// Ends the session of `token` (logout).
    pub async fn logout(&self, token: &str, actor: &Actor) -> anyhow::Result<()> {
        self.store
            .end_session(&SessionDigest(self.keys.digest(token)), self.clock.now())
            .await?;
        self.audit(actor, AuditAction::Logout, actor.name(), None, None)
            .await
    }

    /// Writes what `actor` did on `target` to the audit log, with the state before and after.
    pub async fn audit(
        &self,
        actor: &Actor,
        action: AuditAction,
        target: &str,
        before: Option<String>,
        after: Option<String>,
    ) -> anyhow::Result<()> {
        let entry = AuditEntry::new(actor, action, target, before, after, self.clock.now());
        self.store.audit(&entry).await
    }

    /// The newest `limit` audit entries, only `actor`'s when given.
    pub async fn audit_log(
        &self,
        actor: Option<&str>,
        limit: u64,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        self.store.audit_entries(actor, limit).await
    }
}

/// The actor a session acts as.
pub fn actor_of(operator: &OperatorAccount) -> Actor {
    Actor::Operator {
        name: operator.name.clone(),
        role: operator.role,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::login_code::AttemptId;
    use crate::operator::{AuditEntry, OperatorAttemptCounts, PasswordHash};
    use std::sync::Mutex;

    /// An account whose password a reset changes right after its first read.
    #[derive(Default)]
    struct ResetMidLogin {
        reads: Mutex<u32>,
        ended: Mutex<Vec<String>>,
    }

    fn account(hash: &str) -> OperatorAccount {
        OperatorAccount {
            id: 1,
            name: OperatorName::parse("ann").unwrap(),
            role: Role::Admin,
            password_hash: PasswordHash(hash.into()),
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    impl Operators for ResetMidLogin {
        async fn create_operator(
            &self,
            _: &OperatorName,
            _: Role,
            _: &PasswordHash,
            _: DateTime<Utc>,
        ) -> anyhow::Result<bool> {
            Ok(true)
        }
        async fn reset_operator(
            &self,
            _: &OperatorName,
            _: Role,
            _: &PasswordHash,
            _: DateTime<Utc>,
        ) -> anyhow::Result<bool> {
            Ok(true)
        }
        async fn operator(&self, _: &OperatorName) -> anyhow::Result<Option<OperatorAccount>> {
            let mut reads = self.reads.lock().unwrap();
            *reads += 1;
            Ok(Some(account(if *reads == 1 {
                "old password"
            } else {
                "new password"
            })))
        }
        async fn begin_operator_attempt(
            &self,
            _: &OperatorName,
            _: &ClientPrefix,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> anyhow::Result<(AttemptId, OperatorAttemptCounts)> {
            Ok((
                AttemptId(1),
                OperatorAttemptCounts {
                    by_name: 1,
                    by_address: 1,
                },
            ))
        }
        async fn forget_operator_attempt(&self, _: AttemptId) -> anyhow::Result<()> {
            Ok(())
        }
        async fn open_session(
            &self,
            _: i64,
            _: &SessionDigest,
            _: &str,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> anyhow::Result<()> {
            Ok(())
        }
        async fn session(
            &self,
            _: &SessionDigest,
            _: DateTime<Utc>,
        ) -> anyhow::Result<Option<OperatorSession>> {
            Ok(None)
        }
        async fn end_session(
            &self,
            digest: &SessionDigest,
            _: DateTime<Utc>,
        ) -> anyhow::Result<()> {
            self.ended.lock().unwrap().push(digest.0.clone());
            Ok(())
        }
    }

    impl AuditLog for ResetMidLogin {
        async fn audit(&self, _: &AuditEntry) -> anyhow::Result<()> {
            Ok(())
        }
        async fn audit_entries(&self, _: Option<&str>, _: u64) -> anyhow::Result<Vec<AuditEntry>> {
            Ok(Vec::new())
        }
    }

    /// Passwords "hash" to themselves; tokens count up.
    #[derive(Default)]
    struct PlainKeys(Mutex<u32>);

    impl OperatorKeys for PlainKeys {
        async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash> {
            Ok(PasswordHash(password.expose().into()))
        }
        async fn verify(&self, hash: Option<&PasswordHash>, password: &Password) -> bool {
            hash.is_some_and(|h| h.0 == password.expose())
        }
        fn fresh_token(&self) -> String {
            let mut n = self.0.lock().unwrap();
            *n += 1;
            format!("token-{n}")
        }
        fn digest(&self, token: &str) -> String {
            format!("digest-{token}")
        }
    }

    #[tokio::test]
    async fn a_reset_during_a_login_ends_the_session_the_old_password_opened() {
        let store = Arc::new(ResetMidLogin::default());
        let console = Console::new(
            store.clone(),
            Arc::new(PlainKeys::default()),
            Arc::new(ManualClock::at(DateTime::UNIX_EPOCH)),
            ConsolePolicy {
                failures_per_account: 5,
                failures_per_address: 20,
                window: Duration::minutes(15),
                session_ttl: Duration::hours(12),
            },
        );
        let old = Password::offered("old password".into()).unwrap();
        let here = ClientPrefix::of("127.0.0.1".parse().unwrap());
        let refused = console.login("ann", &old, &here).await;
        assert!(
            matches!(refused, Err(ConsoleLoginError::Wrong)),
            "{refused:?}"
        );
        assert_eq!(*store.ended.lock().unwrap(), ["digest-token-1"]);
    }
}
