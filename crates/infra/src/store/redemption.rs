//! The redemption port: batches, codes by digest, and the per-user attempt log.
//!
//! A code is taken by one conditional UPDATE (`redeemed_at IS NULL AND expires_at > now`)
//! and credited through the one credit path in the same transaction: of any number of
//! concurrent redemptions, the one whose UPDATE changed the row credits, the others see it
//! taken (PostgreSQL and MySQL re-check the row after the winner's commit; SQLite has one
//! writer).

use super::entities::{ledger, redeem_attempt, redemption_batch, redemption_code};
use super::{SeaStore, credit, from_millis, from_millis_opt, millis, rollback};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::login_code::{AttemptId, CodeDigest};
use domain::ports::RedemptionCodes;
use domain::product::ModelType;
use domain::redemption::{Batch, BatchId, BatchTerms, RedeemOutcome};
use domain::user::UserId;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

/// Old attempts are swept by every this-many-th attempt.
const SWEEP_EVERY: i64 = 64;

impl RedemptionCodes for SeaStore {
    async fn create_batch(
        &self,
        terms: &BatchTerms,
        digests: &[CodeDigest],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Batch> {
        let txn = self
            .writer()?
            .begin()
            .await
            .context("create a batch: begin")?;
        let id = redemption_batch::Entity::insert(redemption_batch::ActiveModel {
            id: NotSet,
            count: Set(i32::try_from(terms.count).context("a batch's count")?),
            quota: Set(i64::from(terms.quota)),
            model_types: Set(ModelType::join(&terms.models)),
            expires_at: Set(millis(terms.expires_at)),
            created_at: Set(millis(now)),
        })
        .exec(&txn)
        .await
        .context("store a batch")?
        .last_insert_id;
        // In chunks: one statement per few hundred codes stays under every backend's
        // parameter limit.
        for chunk in digests.chunks(200) {
            redemption_code::Entity::insert_many(chunk.iter().map(|digest| {
                redemption_code::ActiveModel {
                    id: NotSet,
                    batch_id: Set(id),
                    digest: Set(digest.as_str().to_owned()),
                    expires_at: Set(millis(terms.expires_at)),
                    redeemed_by: Set(None),
                    redeemed_at: Set(None),
                }
            }))
            .exec_without_returning(&txn)
            .await
            .context("store a batch's codes")?;
        }
        txn.commit().await.context("create a batch: commit")?;
        Ok(Batch {
            id: BatchId(id),
            terms: terms.clone(),
            created_at: now,
            redeemed: 0,
        })
    }

    async fn batches(&self, limit: u64) -> anyhow::Result<Vec<Batch>> {
        let rows = redemption_batch::Entity::find()
            .order_by_desc(redemption_batch::Column::Id)
            .limit(limit)
            .all(&self.reads)
            .await
            .context("list the batches")?;
        let mut batches = Vec::with_capacity(rows.len());
        for row in rows {
            let redeemed = redemption_code::Entity::find()
                .filter(redemption_code::Column::BatchId.eq(row.id))
                .filter(redemption_code::Column::RedeemedAt.is_not_null())
                .count(&self.reads)
                .await
                .with_context(|| format!("count batch {}'s redeemed codes", row.id))?;
            batches.push(Batch {
                id: BatchId(row.id),
                terms: BatchTerms {
                    count: u32::try_from(row.count).context("a stored batch's count")?,
                    quota: u32::try_from(row.quota).context("a stored batch's quota")?,
                    models: ModelType::parse_list(&row.model_types)?,
                    expires_at: from_millis(row.expires_at)?,
                },
                created_at: from_millis(row.created_at)?,
                redeemed: u32::try_from(redeemed).unwrap_or(u32::MAX),
            });
        }
        Ok(batches)
    }

    async fn redeem_code(
        &self,
        digest: &CodeDigest,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<RedeemOutcome> {
        let txn = self.writer()?.begin().await.context("redeem: begin")?;
        let taken = redemption_code::Entity::update_many()
            .col_expr(
                redemption_code::Column::RedeemedBy,
                Expr::value(user.as_str()),
            )
            .col_expr(
                redemption_code::Column::RedeemedAt,
                Expr::value(millis(now)),
            )
            .filter(redemption_code::Column::Digest.eq(digest.as_str()))
            .filter(redemption_code::Column::RedeemedAt.is_null())
            .filter(redemption_code::Column::ExpiresAt.gt(millis(now)))
            .exec(&txn)
            .await
            .context("take a redemption code")?;
        if taken.rows_affected != 1 {
            rollback(txn).await;
            return self.why_not_taken(digest).await;
        }
        let code = redemption_code::Entity::find()
            .filter(redemption_code::Column::Digest.eq(digest.as_str()))
            .one(&txn)
            .await
            .context("read the taken code")?
            .context("the taken code is gone")?;
        let batch = redemption_batch::Entity::find_by_id(code.batch_id)
            .one(&txn)
            .await
            .context("read the code's batch")?
            .with_context(|| format!("batch {} of a code is gone", code.batch_id))?;
        let models = ModelType::parse_list(&batch.model_types)?;
        let credited = credit::credit(
            &txn,
            &credit::Credit {
                user: user.as_str(),
                quota: batch.quota,
                models: &models,
                reason: ledger::REASON_REDEMPTION,
                reference: &code.id.to_string(),
            },
            now,
        )
        .await
        .with_context(|| format!("credit a redemption to {user}"))?;
        let Some(account) = credited else {
            // The ledger has this code already: it was credited, whatever the row said.
            rollback(txn).await;
            return Ok(RedeemOutcome::Used);
        };
        txn.commit().await.context("redeem: commit")?;
        Ok(RedeemOutcome::Redeemed {
            quota: u32::try_from(batch.quota).context("a stored batch's quota")?,
            models,
            surplus_after: account.surplus_quota,
        })
    }

    async fn begin_redeem_attempt(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> anyhow::Result<(AttemptId, u32, Option<DateTime<Utc>>)> {
        // Recorded first, committed on its own: every later count sees it, so however many
        // attempts race, no more than the limit are counted below it.
        let id = redeem_attempt::Entity::insert(redeem_attempt::ActiveModel {
            id: NotSet,
            user_id: Set(user.as_str().to_owned()),
            at: Set(millis(now)),
        })
        .exec(self.writer()?)
        .await
        .context("record a redemption attempt")?
        .last_insert_id;
        let (attempts, oldest): (i64, Option<i64>) = redeem_attempt::Entity::find()
            .select_only()
            .column_as(Expr::col(redeem_attempt::Column::Id).count(), "attempts")
            .column_as(Expr::col(redeem_attempt::Column::At).min(), "oldest")
            .filter(redeem_attempt::Column::UserId.eq(user.as_str()))
            .filter(redeem_attempt::Column::At.gt(millis(since)))
            .into_tuple()
            .one(self.writer()?)
            .await
            .context("count a user's redemption attempts")?
            .unwrap_or((0, None));
        if id % SWEEP_EVERY == 0 {
            redeem_attempt::Entity::delete_many()
                .filter(redeem_attempt::Column::At.lte(millis(since)))
                .exec(self.writer()?)
                .await
                .context("sweep old redemption attempts")?;
        }
        Ok((
            AttemptId(id),
            u32::try_from(attempts).unwrap_or(u32::MAX),
            from_millis_opt(oldest)?,
        ))
    }

    async fn forget_redeem_attempt(&self, id: AttemptId) -> anyhow::Result<()> {
        redeem_attempt::Entity::delete_by_id(id.0)
            .exec(self.writer()?)
            .await
            .context("forget a redemption attempt")?;
        Ok(())
    }
}

impl SeaStore {
    /// Why a code's taking UPDATE changed nothing: unknown, used, or expired.
    async fn why_not_taken(&self, digest: &CodeDigest) -> anyhow::Result<RedeemOutcome> {
        let row = redemption_code::Entity::find()
            .filter(redemption_code::Column::Digest.eq(digest.as_str()))
            .one(self.writer()?)
            .await
            .context("read a redemption code")?;
        Ok(match row {
            None => RedeemOutcome::Unknown,
            Some(row) if row.redeemed_at.is_some() => RedeemOutcome::Used,
            Some(_) => RedeemOutcome::Expired,
        })
    }
}
