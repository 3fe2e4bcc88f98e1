//! `chat_usage`: one row per chat call (what it spent and how it ended).

use sea_orm_migration::prelude::*;

/// Creates `chat_usage` and its index.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum ChatUsage {
    Table,
    Id,
    UserId,
    Model,
    QuotaSpent,
    Status,
    StartedAt,
    FirstTokenMs,
    FinishedAt,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChatUsage::Table)
                    .col(
                        ColumnDef::new(ChatUsage::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ChatUsage::UserId).string_len(64).not_null())
                    .col(ColumnDef::new(ChatUsage::Model).string_len(64).not_null())
                    .col(
                        ColumnDef::new(ChatUsage::QuotaSpent)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ChatUsage::Status).string_len(16).not_null())
                    .col(
                        ColumnDef::new(ChatUsage::StartedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ChatUsage::FirstTokenMs).big_integer().null())
                    .col(ColumnDef::new(ChatUsage::FinishedAt).big_integer().null())
                    .col(ColumnDef::new(ChatUsage::Error).text().null())
                    .to_owned(),
            )
            .await?;
        // A user's newest calls: `user_id = ? ORDER BY started_at DESC`.
        manager
            .create_index(
                Index::create()
                    .name("ix_chat_usage_user_id_started_at")
                    .table(ChatUsage::Table)
                    .col(ChatUsage::UserId)
                    .col(ChatUsage::StartedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ChatUsage::Table).to_owned())
            .await
    }
}
