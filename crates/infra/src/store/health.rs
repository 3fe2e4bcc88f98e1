//! The readiness probe (can the store write and read its database now?) and the pools'
//! use, for the metrics.

use super::entities::health_probe;
use super::{SeaStore, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbBackend, EntityTrait};

/// One connection pool's use now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// `writes` and `reads` for SQLite (one writer beside the readers), else `shared`.
    pub name: &'static str,
    /// Connections open, busy or idle.
    pub open: u32,
    /// Of those, idle.
    pub idle: usize,
    /// The most it opens.
    pub max: u32,
}

impl SeaStore {
    /// The use of each connection pool.
    pub fn pool_use(&self) -> Vec<PoolUse> {
        if self.file.is_some() {
            return vec![pool_use("writes", &self.db), pool_use("reads", &self.reads)];
        }
        let mut pools = vec![pool_use("shared", &self.db)];
        if let Some(lane) = &self.lane {
            pools.push(pool_use("chat-writes", lane.db()));
        }
        pools
    }

    /// Writes this node's probe row and reads it back: an error says why the database
    /// cannot serve now (gone, replaced, read-only, unreachable).
    pub async fn probe(&self, node_id: u16, now: DateTime<Utc>) -> anyhow::Result<()> {
        let row = health_probe::ActiveModel {
            node_id: Set(i32::from(node_id)),
            checked_at: Set(millis(now)),
        };
        health_probe::Entity::insert(row)
            .on_conflict(
                OnConflict::column(health_probe::Column::NodeId)
                    .update_column(health_probe::Column::CheckedAt)
                    .to_owned(),
            )
            .exec_without_returning(self.writer()?)
            .await
            .context("write the readiness probe")?;
        let read = health_probe::Entity::find_by_id(i32::from(node_id))
            .one(&self.reads)
            .await
            .context("read the readiness probe")?;
        anyhow::ensure!(
            read.is_some(),
            "the readiness probe written was not read back"
        );
        Ok(())
    }
}

fn pool_use(name: &'static str, db: &DatabaseConnection) -> PoolUse {
    fn of<D: sea_orm::sqlx::Database>(
        name: &'static str,
        pool: &sea_orm::sqlx::Pool<D>,
    ) -> PoolUse {
        PoolUse {
            name,
            open: pool.size(),
            idle: pool.num_idle(),
            max: pool.options().get_max_connections(),
        }
    }
    match db.get_database_backend() {
        DbBackend::Postgres => of(name, db.get_postgres_connection_pool()),
        DbBackend::MySql => of(name, db.get_mysql_connection_pool()),
        _ => of(name, db.get_sqlite_connection_pool()),
    }
}
