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
        let session = self.open(account, now).await?;
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
