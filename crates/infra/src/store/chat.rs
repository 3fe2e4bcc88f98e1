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
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

/// How often a spend that lost its conditional write to a concurrent change looks again
/// (it only retries when the account still looks able to pay, e.g. after a refund).
const SPEND_ATTEMPTS: u32 = 3;
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
        let quota = i64::from(price.get());
        for _ in 0..SPEND_ATTEMPTS {
            // Read first only to tell the refusals apart; the write below decides.
            let current = self.account(user).await?;
            if let Some(refusal) = Spend::refusal(current.as_ref(), model, price) {
                return Ok(refusal);
            }
            let txn = self.db.begin().await.context("spend quota: begin")?;
            // The one conditional write: of concurrent spends only those the balance covers
            // change a row. It is also the transaction's first write, so SQLite takes its
            // write lock while busy_timeout still applies.
            let won = account::Entity::update_many()
                .col_expr(
                    account::Column::SurplusQuota,
                    Expr::col(account::Column::SurplusQuota).sub(quota),
                )
                .col_expr(account::Column::UpdatedAt, Expr::value(millis(now)))
                .filter(account::Column::UserId.eq(user.as_str()))
                .filter(account::Column::Status.eq(AccountStatus::Usable.as_str()))
                .filter(account::Column::SurplusQuota.gte(quota))
                .exec(&txn)
                .await
                .with_context(|| format!("spend quota of {user}"))?
                .rows_affected
                == 1;
            if !won {
                drop(txn);
                continue;
            }
            let row = chat_usage::ActiveModel {
                id: NotSet,
                user_id: Set(user.as_str().to_owned()),
                model: Set(model.as_str().to_owned()),
                quota_spent: Set(quota),
                status: Set(UsageStatus::Started.as_str().to_owned()),
                started_at: Set(millis(now)),
                first_token_ms: Set(None),
                finished_at: Set(None),
                error: Set(None),
            };
            let id = chat_usage::Entity::insert(row)
                .exec(&txn)
                .await
                .with_context(|| format!("spend quota of {user}: open the usage row"))?
                .last_insert_id;
            txn.commit()
                .await
                .with_context(|| format!("spend quota of {user}: commit"))?;
            return Ok(Spend::Spent(UsageId(id)));
        }
        // Still losing after several looks: the balance is being spent by others.
        let current = self.account(user).await?;
        Ok(Spend::refusal(current.as_ref(), model, price).unwrap_or(Spend::NoQuota))
    }

    async fn refund(
        &self,
        usage: UsageId,
        error: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let txn = self.db.begin().await.context("refund: begin")?;
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
            .exec(&self.db)
            .await
            .with_context(|| format!("end chat call {usage} as {}", end.status().as_str()))?
            .rows_affected
            == 1)
    }

    async fn usage_of(&self, user: &UserId, limit: u64) -> anyhow::Result<Vec<ChatUsage>> {
        chat_usage::Entity::find()
            .filter(chat_usage::Column::UserId.eq(user.as_str()))
            .order_by_desc(chat_usage::Column::StartedAt)
            .order_by_desc(chat_usage::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .with_context(|| format!("list the chat calls of {user}"))?
            .into_iter()
            .map(to_domain)
            .collect()
    }
}

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
