//! The login ports: codes (a digest and a sealed copy; one row per user, unique by digest,
//! redeemed by one conditional UPDATE) and failed attempts (one row each, counted by block and in all).

use super::entities::{login_attempt, login_code};
use super::{SeaStore, from_millis, from_millis_opt, is_unique_violation, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::login_code::{
    AttemptCounts, AttemptId, ClientPrefix, CodeDigest, SealedCode, StoreCode, StoredCode,
};
use domain::ports::{LoginAttempts, LoginCodes};
use domain::user::UserId;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect,
};

/// One attempt in this many sweeps the rows every window has left behind.
const SWEEP_EVERY: i64 = 64;

impl LoginCodes for SeaStore {
    async fn live_code(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<StoredCode>> {
        let row = login_code::Entity::find()
            .filter(login_code::Column::UserId.eq(user.as_str()))
            .filter(login_code::Column::UsedAt.is_null())
            .filter(login_code::Column::ExpiresAt.gt(millis(now)))
            .one(&self.reads)
            .await
            .with_context(|| format!("find the live login code of {user}"))?;
        row.map(|row| {
            Ok(StoredCode {
                sealed: SealedCode::new(row.code_sealed),
                expires_at: from_millis(row.expires_at)?,
            })
        })
        .transpose()
    }

    async fn store_code(
        &self,
        user: &UserId,
        digest: &CodeDigest,
        sealed: &SealedCode,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<StoreCode> {
        let now_ms = millis(now);
        // Recycle: expired codes free their digests, and the user's used code their row
        // (the unique index on user_id keeps one row per user).
        login_code::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(login_code::Column::ExpiresAt.lte(now_ms))
                    .add(
                        Condition::all()
                            .add(login_code::Column::UserId.eq(user.as_str()))
                            .add(login_code::Column::UsedAt.is_not_null()),
                    ),
            )
            .exec(self.writer()?)
            .await
            .context("recycle login codes")?;
        let row = login_code::ActiveModel {
            id: NotSet,
            code_digest: Set(digest.as_str().to_owned()),
            code_sealed: Set(sealed.as_str().to_owned()),
            user_id: Set(user.as_str().to_owned()),
            created_at: Set(now_ms),
            expires_at: Set(millis(expires_at)),
            used_at: Set(None),
        };
        match login_code::Entity::insert(row)
            .exec_without_returning(self.writer()?)
            .await
        {
            Ok(_) => Ok(StoreCode::Stored),
            Err(e) if is_unique_violation(&e) => {
                let taken = login_code::Entity::find()
                    .filter(login_code::Column::CodeDigest.eq(digest.as_str()))
                    .one(self.writer()?)
                    .await
                    .context("look up a colliding login code")?;
                Ok(match taken {
                    Some(row) if row.user_id != user.as_str() => StoreCode::Collision,
                    _ => StoreCode::UserHasLiveCode,
                })
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("store a login code for {user}"))),
        }
    }

    async fn revoke_code(&self, user: &UserId) -> anyhow::Result<()> {
        login_code::Entity::delete_many()
            .filter(login_code::Column::UserId.eq(user.as_str()))
            .exec(self.writer()?)
            .await
            .with_context(|| format!("revoke the login code of {user}"))?;
        Ok(())
    }

    async fn redeem(
        &self,
        digest: &CodeDigest,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<UserId>> {
        let now_ms = millis(now);
        let Some(row) = login_code::Entity::find()
            .filter(login_code::Column::CodeDigest.eq(digest.as_str()))
            .one(&self.reads)
            .await
            .context("look up a login code")?
        else {
            return Ok(None);
        };
        // The one conditional write that decides: only a caller that flips used_at from
        // NULL, before expiry, on this very row, logs in.
        let won = login_code::Entity::update_many()
            .col_expr(login_code::Column::UsedAt, Expr::value(now_ms))
            .filter(login_code::Column::Id.eq(row.id))
            .filter(login_code::Column::CodeDigest.eq(digest.as_str()))
            .filter(login_code::Column::UsedAt.is_null())
            .filter(login_code::Column::ExpiresAt.gt(now_ms))
            .exec(self.writer()?)
            .await
            .context("redeem a login code")?
            .rows_affected
            == 1;
        if !won {
            return Ok(None);
        }
        UserId::parse(&row.user_id)
            .map(Some)
            .with_context(|| format!("login code row {} holds a bad user id", row.id))
    }
}

impl LoginAttempts for SeaStore {
    async fn begin_attempt(
        &self,
        prefix: &ClientPrefix,
        now: DateTime<Utc>,
        prefix_since: DateTime<Utc>,
        recent_since: DateTime<Utc>,
        cap: u32,
    ) -> anyhow::Result<(AttemptId, AttemptCounts)> {
        // Recorded first, committed on its own: every later count sees it, so however many
        // attempts race, no more than the limit are counted below it.
        let row = login_attempt::ActiveModel {
            id: NotSet,
            prefix: Set(prefix.as_str().to_owned()),
            at: Set(millis(now)),
        };
        let id = login_attempt::Entity::insert(row)
            .exec(self.writer()?)
            .await
            .context("record a login attempt")?
            .last_insert_id;
        let (failures, oldest): (i64, Option<i64>) = login_attempt::Entity::find()
            .select_only()
            .column_as(Expr::col(login_attempt::Column::Id).count(), "failures")
            .column_as(Expr::col(login_attempt::Column::At).min(), "oldest")
            .filter(login_attempt::Column::Prefix.eq(prefix.as_str()))
            .filter(login_attempt::Column::At.gt(millis(prefix_since)))
            .into_tuple()
            .one(self.writer()?)
            .await
            .context("count a block's login failures")?
            .unwrap_or((0, None));
        let recent = self.recent_failures(recent_since, cap).await?;
        if id % SWEEP_EVERY == 0 {
            login_attempt::Entity::delete_many()
                .filter(login_attempt::Column::At.lte(millis(Ord::min(prefix_since, recent_since))))
                .exec(self.writer()?)
                .await
                .context("sweep old login attempts")?;
        }
        Ok((
            AttemptId(id),
            AttemptCounts {
                prefix_failures: u32::try_from(failures).unwrap_or(u32::MAX),
                prefix_oldest: from_millis_opt(oldest)?,
                recent_failures: recent,
            },
        ))
    }

    async fn forget_attempt(&self, id: AttemptId) -> anyhow::Result<()> {
        login_attempt::Entity::delete_by_id(id.0)
            .exec(self.writer()?)
            .await
            .context("forget a login attempt")?;
        Ok(())
    }

    async fn recent_failures(&self, since: DateTime<Utc>, cap: u32) -> anyhow::Result<u32> {
        // Only whether the count reaches `cap` matters: never count further.
        let ids: Vec<i64> = login_attempt::Entity::find()
            .select_only()
            .column(login_attempt::Column::Id)
            .filter(login_attempt::Column::At.gt(millis(since)))
            .limit(u64::from(cap))
            .into_tuple()
            .all(self.writer()?)
            .await
            .context("count recent login failures")?;
        Ok(u32::try_from(ids.len()).unwrap_or(u32::MAX))
    }
}
