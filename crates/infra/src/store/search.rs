//! The console's order search (by number, transaction id or openid; status; time), its
//! totals by status, and the chat's totals by model.

use super::entities::{chat_usage, order};
use super::orders::to_domain;
use super::{SeaStore, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::chat::UsageStatus;
use domain::money::Fen;
use domain::order::{Order, OrderStatus};
use domain::ports::{ChatStats, ModelUsage, OrderQuery, OrderSearch, StatusTotal};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

impl OrderSearch for SeaStore {
    async fn search_orders(&self, query: &OrderQuery, limit: u64) -> anyhow::Result<Vec<Order>> {
        let mut find = order::Entity::find();
        if let Some(text) = query
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            find = find.filter(
                Condition::any()
                    .add(order::Column::OrderNo.eq(text))
                    .add(order::Column::TransactionId.eq(text))
                    .add(order::Column::UserId.eq(text)),
            );
        }
        if let Some(status) = query.status {
            find = find.filter(order::Column::Status.eq(status.as_str()));
        }
        if let Some(from) = query.from {
            find = find.filter(order::Column::CreatedAt.gte(millis(from)));
        }
        if let Some(to) = query.to {
            find = find.filter(order::Column::CreatedAt.lt(millis(to)));
        }
        find.order_by_desc(order::Column::CreatedAt)
            .limit(limit)
            .all(&self.reads)
            .await
            .context("search orders")?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn order_totals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<Vec<StatusTotal>> {
        let integer = self.integer_type();
        let rows: Vec<(String, i64, Option<i64>)> = order::Entity::find()
            .select_only()
            .column(order::Column::Status)
            .column_as(Expr::col(order::Column::Id).count(), "orders")
            .column_as(
                Expr::col(order::Column::Amount)
                    .sum()
                    .cast_as(Alias::new(integer)),
                "amount",
            )
            .filter(order::Column::CreatedAt.gte(millis(from)))
            .filter(order::Column::CreatedAt.lt(millis(to)))
            .group_by(order::Column::Status)
            .into_tuple()
            .all(&self.reads)
            .await
            .context("count orders by status")?;
        rows.into_iter()
            .map(|(status, orders, amount)| {
                Ok(StatusTotal {
                    status: OrderStatus::parse(&status)?,
                    orders: u64::try_from(orders).unwrap_or(0),
                    amount: Fen::from_i64(amount.unwrap_or(0))?,
                })
            })
            .collect()
    }
}

impl SeaStore {
    /// The type a SUM is cast back to: SUM is NUMERIC on PostgreSQL and DECIMAL on MySQL.
    fn integer_type(&self) -> &'static str {
        match self.reads.get_database_backend() {
            DbBackend::MySql => "SIGNED",
            _ => "BIGINT",
        }
    }
}

/// A model's totals as selected: model, calls, quota spent, prompt and completion tokens.
type UsageRow = (String, i64, Option<i64>, Option<i64>, Option<i64>);

impl ChatStats for SeaStore {
    async fn usage_totals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<Vec<ModelUsage>> {
        let integer = self.integer_type();
        let sum = |inner: String| Expr::cust(format!("CAST(SUM({inner}) AS {integer})"));
        let refunded = UsageStatus::Refunded.as_str();
        let rows: Vec<UsageRow> = chat_usage::Entity::find()
            .select_only()
            .column(chat_usage::Column::Model)
            .column_as(Expr::col(chat_usage::Column::Id).count(), "calls")
            .column_as(
                sum(format!(
                    "CASE WHEN status <> '{refunded}' THEN quota_spent ELSE 0 END"
                )),
                "spent",
            )
            .column_as(sum("COALESCE(prompt_tokens, 0)".into()), "prompt")
            .column_as(sum("COALESCE(completion_tokens, 0)".into()), "completion")
            .filter(chat_usage::Column::StartedAt.gte(millis(from)))
            .filter(chat_usage::Column::StartedAt.lt(millis(to)))
            .group_by(chat_usage::Column::Model)
            .into_tuple()
            .all(&self.reads)
            .await
            .context("total chat usage by model")?;
        Ok(rows
            .into_iter()
            .map(|(model, calls, spent, prompt, completion)| ModelUsage {
                model,
                calls: u64::try_from(calls).unwrap_or(0),
                quota_spent: spent.unwrap_or(0),
                prompt_tokens: prompt.unwrap_or(0),
                completion_tokens: completion.unwrap_or(0),
            })
            .collect())
    }
}
