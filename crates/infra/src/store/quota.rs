//! Crediting quota directly (tests, operators), and freezing accounts: each credit leaves a
//! ledger row unique by (reason, ref), so a repeated grant changes nothing.

use super::entities::ledger;
use super::{SeaStore, credit, rollback};
use anyhow::{Context as _, ensure};
use chrono::{DateTime, Utc};
use domain::account::Account;
use domain::product::ModelType;
use domain::user::UserId;
use sea_orm::TransactionTrait;

impl SeaStore {
    /// Credits `quota` and `models` to `user` with a ledger row (`reason`, `reference`);
    /// the account after, or `None` if that (reason, reference) was granted before.
    /// `reason` is 1–32 characters and not a delivery's, `reference` 1–64.
    pub async fn grant_quota(
        &self,
        user: &UserId,
        quota: u32,
        models: &[ModelType],
        reason: &str,
        reference: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Account>> {
        ensure!(quota > 0, "a grant credits at least 1 quota");
        ensure!(
            (1..=32).contains(&reason.chars().count())
                && ![ledger::REASON_ORDER_DELIVERY, ledger::REASON_REDEMPTION].contains(&reason),
            "a grant's reason is 1 to 32 characters and not {:?} nor {:?}, got {reason:?}",
            ledger::REASON_ORDER_DELIVERY,
            ledger::REASON_REDEMPTION
        );
        ensure!(
            (1..=64).contains(&reference.chars().count()),
            "a grant's reference is 1 to 64 characters"
        );
        let txn = self.writer()?.begin().await.context("grant quota: begin")?;
        // The one credit path; its ledger row is the exactly-once guard (and SQLite's
        // write lock).
        let credited = credit::credit(
            &txn,
            &credit::Credit {
                user: user.as_str(),
                quota: i64::from(quota),
                models,
                reason,
                reference,
            },
            now,
        )
        .await
        .with_context(|| format!("grant quota to {user}"))?;
        let Some(after) = credited else {
            rollback(txn).await;
            return Ok(None);
        };
        txn.commit()
            .await
            .with_context(|| format!("grant quota to {user}: commit"))?;
        Ok(Some(after))
    }
}
