//! An index for finding chat calls by status and age (the sweep of interrupted calls).

use sea_orm_migration::prelude::*;

/// Indexes `chat_usage (status, started_at)`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum ChatUsage {
    Table,
    Status,
    StartedAt,
}

const INDEX: &str = "ix_chat_usage_status_started_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `status = 'STARTED' AND started_at < ?` must not scan every call ever made.
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(ChatUsage::Table)
                    .col(ChatUsage::Status)
                    .col(ChatUsage::StartedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(ChatUsage::Table).to_owned())
            .await
    }
}
