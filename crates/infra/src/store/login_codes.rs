//! The login-code port. A user has one row; live codes are unique by index; a redeem is one
//! conditional UPDATE, so concurrent redeems of one code have exactly one winner.

use super::entities::login_code;
use super::{SeaStore, from_millis, is_unique_violation, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::login::{
    CodeSource, CodeTtl, IssueError, IssuedCode, LoginCode, LoginCodes, MAX_ISSUE_ATTEMPTS,
};
use domain::user::UserId;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
};

impl LoginCodes for SeaStore {
    async fn issue(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        ttl: CodeTtl,
        source: &dyn CodeSource,
    ) -> Result<IssuedCode, IssueError> {
        let now_ms = millis(now);
        for _ in 0..MAX_ISSUE_ATTEMPTS {
            if let Some(row) = live_row_of(&self.reads, user, now_ms).await? {
                return Ok(to_issued(row, true)?);
            }
            // Recycle: expired codes free their values, and the user's used code frees their
            // row (the unique index on user_id keeps one row per user).
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
                .exec(&self.db)
                .await
                .context("recycle expired login codes")?;
            let code = source.fresh_code();
            let expires_at = ttl.expires_at(now);
            let row = login_code::ActiveModel {
                id: NotSet,
                code: Set(code.as_str().to_owned()),
                user_id: Set(user.as_str().to_owned()),
                created_at: Set(now_ms),
                expires_at: Set(millis(expires_at)),
                used_at: Set(None),
            };
            match login_code::Entity::insert(row)
                .exec_without_returning(&self.db)
                .await
            {
                Ok(_) => {
                    return Ok(IssuedCode {
                        code,
                        user: user.clone(),
                        expires_at,
                        reused: false,
                    });
                }
                // The code is someone's live code, or a concurrent issue for this user won:
                // the next round reads the user's live code again before trying a new one.
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("insert a login code for {user}"))
                        .into());
                }
            }
        }
        Err(IssueError::Exhausted)
    }

    async fn redeem(&self, code: &LoginCode, now: DateTime<Utc>) -> anyhow::Result<Option<UserId>> {
        let now_ms = millis(now);
        let Some(row) = login_code::Entity::find()
            .filter(login_code::Column::Code.eq(code.as_str()))
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
            .filter(login_code::Column::Code.eq(code.as_str()))
            .filter(login_code::Column::UsedAt.is_null())
            .filter(login_code::Column::ExpiresAt.gt(now_ms))
            .exec(&self.db)
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

impl SeaStore {
    /// The user's live (unused, unexpired) login code, for tests and tools.
    pub async fn live_login_code(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<IssuedCode>> {
        live_row_of(&self.reads, user, millis(now))
            .await?
            .map(|row| to_issued(row, true))
            .transpose()
    }
}

async fn live_row_of(
    db: &impl ConnectionTrait,
    user: &UserId,
    now_ms: i64,
) -> anyhow::Result<Option<login_code::Model>> {
    login_code::Entity::find()
        .filter(login_code::Column::UserId.eq(user.as_str()))
        .filter(login_code::Column::UsedAt.is_null())
        .filter(login_code::Column::ExpiresAt.gt(now_ms))
        .one(db)
        .await
        .with_context(|| format!("find the live login code of {user}"))
}

fn to_issued(row: login_code::Model, reused: bool) -> anyhow::Result<IssuedCode> {
    Ok(IssuedCode {
        code: LoginCode::parse(&row.code)
            .with_context(|| format!("login code row {} holds a bad code", row.id))?,
        user: UserId::parse(&row.user_id)
            .with_context(|| format!("login code row {} holds a bad user id", row.id))?,
        expires_at: from_millis(row.expires_at)?,
        reused,
    })
}
