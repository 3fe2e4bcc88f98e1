//! Redemption codes: an operator issues a batch, a user redeems a code exactly once.
//! Failed attempts are limited per user as login's are per address block: each attempt is
//! recorded before it is checked, and forgotten unless it failed.

use crate::login_code::AttemptId;
use crate::ports::{Clock, RedemptionCodes, RedemptionSecrets};
use crate::product::ModelType;
use crate::redemption::{
    Batch, BatchTerms, IssuedBatch, RedeemOutcome, RedeemPolicy, RedemptionCode,
    RedemptionCodeError,
};
use crate::user::UserId;
use chrono::Duration;
use std::collections::HashSet;
use std::sync::Arc;

/// What a redeemed code credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub quota: u32,
    pub models: Vec<ModelType>,
    /// The account's surplus after the credit.
    pub surplus_after: i64,
}

/// Why a code was not redeemed.
#[derive(Debug, thiserror::Error)]
pub enum RedeemCodeError {
    /// Too many failures lately; nothing was checked.
    #[error("too many failed redemptions; try again in {} s", retry_after.num_seconds())]
    Limited { retry_after: Duration },
    #[error(transparent)]
    Malformed(#[from] RedemptionCodeError),
    #[error("no such redemption code")]
    Unknown,
    #[error("this redemption code was used already")]
    Used,
    #[error("this redemption code has expired")]
    Expired,
    #[error(transparent)]
    Store(anyhow::Error),
}

/// Redemption over its store, its secrets and a clock.
pub struct Redemptions<S> {
    store: Arc<S>,
    secrets: Arc<dyn RedemptionSecrets>,
    clock: Arc<dyn Clock>,
    policy: RedeemPolicy,
}

impl<S> Clone for Redemptions<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            secrets: self.secrets.clone(),
            clock: self.clock.clone(),
            policy: self.policy,
        }
    }
}

impl<S: RedemptionCodes> Redemptions<S> {
    /// Redemption over these parts.
    pub fn new(
        store: Arc<S>,
        secrets: Arc<dyn RedemptionSecrets>,
        clock: Arc<dyn Clock>,
        policy: RedeemPolicy,
    ) -> Self {
        Self {
            store,
            secrets,
            clock,
            policy,
        }
    }

    /// Makes a batch: fresh codes, stored by digest; the codes are returned this once.
    pub async fn issue_batch(&self, terms: BatchTerms) -> anyhow::Result<IssuedBatch> {
        let mut seen = HashSet::new();
        let mut codes = Vec::with_capacity(terms.count as usize);
        while codes.len() < terms.count as usize {
            let code = self.secrets.fresh_code();
            // 80 bits make a repeat all but impossible; the store's unique digest is the
            // guard across batches, this one within the batch.
            if seen.insert(code.clone()) {
                codes.push(code);
            }
        }
        let digests: Vec<_> = codes.iter().map(|c| self.secrets.digest(c)).collect();
        let batch = self
            .store
            .create_batch(&terms, &digests, self.clock.now())
            .await?;
        Ok(IssuedBatch { batch, codes })
    }

    /// The newest batches.
    pub async fn batches(&self, limit: u64) -> anyhow::Result<Vec<Batch>> {
        self.store.batches(limit).await
    }

    /// Redeems the code `typed` for `user`.
    pub async fn redeem(&self, user: &UserId, typed: &str) -> Result<Redeemed, RedeemCodeError> {
        let now = self.clock.now();
        let window = self.policy.failure_window;
        let (attempt, failures, oldest) = self
            .store
            .begin_redeem_attempt(user, now, now - window)
            .await
            .map_err(RedeemCodeError::Store)?;
        // From here on, an early return leaves the attempt counted as a failure unless it
        // is forgotten first.
        if failures > self.policy.max_failures {
            self.forget(attempt).await?;
            let left = oldest.map_or(window, |oldest| window - (now - oldest));
            return Err(RedeemCodeError::Limited {
                retry_after: left.max(Duration::seconds(1)),
            });
        }
        let code = RedemptionCode::parse(typed)?;
        let outcome = self
            .store
            .redeem_code(&self.secrets.digest(&code), user, now)
            .await;
        match outcome {
            Ok(RedeemOutcome::Redeemed {
                quota,
                models,
                surplus_after,
            }) => {
                self.forget(attempt).await?;
                Ok(Redeemed {
                    quota,
                    models,
                    surplus_after,
                })
            }
            Ok(RedeemOutcome::Unknown) => Err(RedeemCodeError::Unknown),
            Ok(RedeemOutcome::Used) => Err(RedeemCodeError::Used),
            Ok(RedeemOutcome::Expired) => Err(RedeemCodeError::Expired),
            Err(e) => {
                // The server failed, not the user: it does not count against them.
                self.forget(attempt).await?;
                Err(RedeemCodeError::Store(e))
            }
        }
    }

    async fn forget(&self, attempt: AttemptId) -> Result<(), RedeemCodeError> {
        self.store
            .forget_redeem_attempt(attempt)
            .await
            .map_err(RedeemCodeError::Store)
    }
}
