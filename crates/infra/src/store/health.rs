//! The readiness probe: can the store write and read its database now?

use super::entities::health_probe;
use super::{SeaStore, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait};

impl SeaStore {
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
