//! The console's order search (by number, transaction id or openid; status; time) and its
//! totals by status.

use super::entities::order;
use super::orders::to_domain;
use super::{SeaStore, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::money::Fen;
use domain::order::{Order, OrderStatus};
use domain::ports::{OrderQuery, OrderSearch, StatusTotal};
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
        // SUM is NUMERIC on PostgreSQL and DECIMAL on MySQL: cast back to a 64-bit integer.
        let integer = match self.reads.get_database_backend() {
            DbBackend::MySql => "SIGNED",
            _ => "BIGINT",
        };
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
