//! The chat quota port: spend with one conditional UPDATE (never below zero, whatever runs
//! concurrently), and end each call's usage row exactly once (a refund gives the price back).

use super::entities::{account, chat_usage};
use super::{SeaStore, from_millis, from_millis_opt, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::account::AccountStatus;
use domain::chat::{ChatAccounts, ChatUsage, Price, Spend, UsageEnd, UsageId, UsageStatus};
use domain::ports::AccountRepository;
use domain::product::ModelType;
use domain::user::UserId;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, TransactionTrait, Value,
};

/// How often a spend that lost its conditional write to a concurrent change looks again
/// (it only retries when the account still looks able to pay, e.g. after a refund).
const SPEND_ATTEMPTS: u32 = 3;
/// The error recorded on a call whose process stopped mid-answer.
const INTERRUPTED: &str = "interrupted: the server stopped during the call";
/// Stored error texts are cut to this many characters.
const MAX_ERROR_CHARS: usize = 500;

impl ChatAccounts for SeaStore {
    async fn spend(
        &self,
        user: &UserId,
        model: &ModelType,
        price: Price,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Spend> {
        for _ in 0..SPEND_ATTEMPTS {
            // Write first: a spend that goes through (the common case) never reads the account.
            if let Some(usage) = self.try_spend(user, model, price, now).await? {
                return Ok(Spend::Spent(usage));
            }
            // Read only to say why it was refused; an account that now looks able to pay
            // changed in between (a refund, a delivery), so look again.
            let current = self.account(user).await?;
            if let Some(refusal) = Spend::refusal(current.as_ref(), model, price) {
                return Ok(refusal);
            }
        }
        // Still losing after several looks: the balance is being spent by others.
        Ok(Spend::NoQuota)
    }

    async fn refund(
        &self,
        usage: UsageId,
        error: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let txn = self.writer()?.begin().await.context("refund: begin")?;
        // Ending the usage row is the guard: only the caller that ends it gives quota back.
        let won = end_usage(UsageStatus::Refunded, usage, Some(error), None, now)
            .exec(&txn)
            .await
            .with_context(|| format!("refund chat call {usage}"))?
            .rows_affected
            == 1;
        if !won {
            return Ok(false);
        }
        let row = chat_usage::Entity::find_by_id(usage.0)
            .one(&txn)
            .await
            .with_context(|| format!("refund chat call {usage}: read it"))?
            .with_context(|| format!("chat call {usage} vanished while refunding"))?;
        account::Entity::update_many()
            .col_expr(
                account::Column::SurplusQuota,
                Expr::col(account::Column::SurplusQuota).add(row.quota_spent),
            )
            .col_expr(account::Column::UpdatedAt, Expr::value(millis(now)))
            .filter(account::Column::UserId.eq(row.user_id.as_str()))
            .exec(&txn)
            .await
            .with_context(|| format!("refund chat call {usage}: give the quota back"))?;
        txn.commit()
            .await
            .with_context(|| format!("refund chat call {usage}: commit"))?;
        Ok(true)
    }

    async fn finish(
        &self,
        usage: UsageId,
        end: &UsageEnd,
        first_token_ms: Option<i64>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let error = match end {
            UsageEnd::Failed(error) => Some(error.as_str()),
            UsageEnd::Ok | UsageEnd::Cancelled => None,
        };
        Ok(end_usage(end.status(), usage, error, first_token_ms, now)
            .exec(self.writer()?)
            .await
            .with_context(|| format!("end chat call {usage} as {}", end.status().as_str()))?
            .rows_affected
            == 1)
    }

    async fn end_interrupted(
        &self,
        started_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let result = chat_usage::Entity::update_many()
            .col_expr(
                chat_usage::Column::Status,
                Expr::value(UsageStatus::Failed.as_str()),
            )
            .col_expr(chat_usage::Column::FinishedAt, Expr::value(millis(now)))
            .col_expr(chat_usage::Column::Error, Expr::value(INTERRUPTED))
            .filter(chat_usage::Column::Status.eq(UsageStatus::Started.as_str()))
            .filter(chat_usage::Column::StartedAt.lt(millis(started_before)))
            .exec(self.writer()?)
            .await
            .context("end interrupted chat calls")?;
        Ok(result.rows_affected)
    }

    async fn usage_of(&self, user: &UserId, limit: u64) -> anyhow::Result<Vec<ChatUsage>> {
        chat_usage::Entity::find()
            .filter(chat_usage::Column::UserId.eq(user.as_str()))
            .order_by_desc(chat_usage::Column::StartedAt)
            .order_by_desc(chat_usage::Column::Id)
            .limit(limit)
            .all(&self.reads)
            .await
            .with_context(|| format!("list the chat calls of {user}"))?
            .into_iter()
            .map(to_domain)
            .collect()
    }
}

impl SeaStore {
    /// The conditional spend: takes `price` from a usable account granted `model` whose
    /// balance covers it and opens the call's usage row, atomically; `None` when no account
    /// qualified (nothing changed).
    async fn try_spend(
        &self,
        user: &UserId,
        model: &ModelType,
        price: Price,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<UsageId>> {
        let backend = self.db.get_database_backend();
        let quota = Value::from(i64::from(price.get()));
        let at = Value::from(millis(now));
        let user_id = Value::from(user.as_str());
        let model_name = Value::from(model.as_str());
        let usable = Value::from(AccountStatus::Usable.as_str());
        let started = Value::from(UsageStatus::Started.as_str());
        let context = || format!("spend quota of {user}");
        if backend == DbBackend::Postgres {
            // One statement, so one round trip and no explicit transaction: the INSERT reads
            // what the UPDATE returned, and both commit or neither does.
            let row = self
                .db
                .query_one_raw(Statement::from_sql_and_values(
                    backend,
                    SPEND_POSTGRES,
                    [quota, at, user_id, model_name, usable, started],
                ))
                .await
                .with_context(context)?;
            return row
                .map(|row| row.try_get::<i64>("", "id").map(UsageId))
                .transpose()
                .with_context(context);
        }
        // SQLite cannot UPDATE inside a WITH, so: a transaction whose first statement is the
        // conditional write (taking SQLite's write lock while busy_timeout still applies).
        let txn = self.writer()?.begin().await.with_context(context)?;
        let won = txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                SPEND_SQLITE_TAKE,
                [
                    quota.clone(),
                    at.clone(),
                    user_id.clone(),
                    model_name.clone(),
                    usable,
                ],
            ))
            .await
            .with_context(context)?
            .rows_affected()
            == 1;
        if !won {
            return Ok(None);
        }
        let id = txn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                SPEND_SQLITE_OPEN_USAGE,
                [user_id, model_name, quota, started, at],
            ))
            .await
            .with_context(context)?
            .context("INSERT … RETURNING returned no row")?
            .try_get::<i64>("", "id")
            .with_context(context)?;
        txn.commit().await.with_context(context)?;
        Ok(Some(UsageId(id)))
    }
}

/// The spend on PostgreSQL, one statement. `$1` quota, `$2` now, `$3` user, `$4` model,
/// `$5` the usable account status, `$6` the STARTED usage status. The model test brackets
/// the stored list (canonical: sorted, comma-joined, no spaces) with commas, so `gpt-4o`
/// does not match `gpt-4o-mini`.
const SPEND_POSTGRES: &str = "\
WITH spent AS (
    UPDATE accounts SET surplus_quota = surplus_quota - $1, updated_at = $2
    WHERE user_id = $3 AND status = $5 AND surplus_quota >= $1
      AND strpos(',' || model_types || ',', ',' || $4 || ',') > 0
    RETURNING user_id
)
INSERT INTO chat_usage (user_id, model, quota_spent, status, started_at)
SELECT user_id, $4, $1, $6, $2 FROM spent
RETURNING id";

/// The spend's conditional write on SQLite (same condition as [`SPEND_POSTGRES`]).
const SPEND_SQLITE_TAKE: &str = "\
UPDATE accounts SET surplus_quota = surplus_quota - ?1, updated_at = ?2
WHERE user_id = ?3 AND status = ?5 AND surplus_quota >= ?1
  AND instr(',' || model_types || ',', ',' || ?4 || ',') > 0";

/// The spend's usage row on SQLite.
const SPEND_SQLITE_OPEN_USAGE: &str = "\
INSERT INTO chat_usage (user_id, model, quota_spent, status, started_at)
VALUES (?1, ?2, ?3, ?4, ?5)
RETURNING id";

/// STARTED → `status`, with what is known of the call's end.
fn end_usage(
    status: UsageStatus,
    usage: UsageId,
    error: Option<&str>,
    first_token_ms: Option<i64>,
    now: DateTime<Utc>,
) -> sea_orm::UpdateMany<chat_usage::Entity> {
    let error = error.map(|e| e.chars().take(MAX_ERROR_CHARS).collect::<String>());
    chat_usage::Entity::update_many()
        .col_expr(chat_usage::Column::Status, Expr::value(status.as_str()))
        .col_expr(chat_usage::Column::FinishedAt, Expr::value(millis(now)))
        .col_expr(
            chat_usage::Column::FirstTokenMs,
            Expr::value(first_token_ms),
        )
        .col_expr(chat_usage::Column::Error, Expr::value(error))
        .filter(chat_usage::Column::Id.eq(usage.0))
        .filter(chat_usage::Column::Status.eq(UsageStatus::Started.as_str()))
}

/// A stored usage row as the domain's.
fn to_domain(row: chat_usage::Model) -> anyhow::Result<ChatUsage> {
    let context = || format!("stored chat call {}", row.id);
    Ok(ChatUsage {
        id: UsageId(row.id),
        user_id: UserId::parse(&row.user_id).with_context(context)?,
        model: ModelType::parse(&row.model).with_context(context)?,
        quota_spent: row.quota_spent,
        status: UsageStatus::parse(&row.status).with_context(|| {
            format!(
                "stored chat call {}: unknown status {:?}",
                row.id, row.status
            )
        })?,
        started_at: from_millis(row.started_at)?,
        first_token_ms: row.first_token_ms,
        finished_at: from_millis_opt(row.finished_at)?,
        error: row.error,
    })
}
