//! `health_probes`: one row per server node, written by every readiness probe, so `/readyz`
//! proves that the database takes a write now.

use super::columns::millis;
use sea_orm_migration::prelude::*;

/// Creates `health_probes`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum HealthProbes {
    Table,
    NodeId,
    CheckedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(HealthProbes::Table)
                    .col(
                        ColumnDef::new(HealthProbes::NodeId)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(millis(HealthProbes::CheckedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(HealthProbes::Table).to_owned())
            .await
    }
}
