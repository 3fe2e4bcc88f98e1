//! `api_keys` (issue 13): the keys users make for OpenAI clients, stored by the key's
//! SHA-256 (unique, the lookup), with a hint, an optional quota cap and model list, and
//! what was spent through each; `chat_usage.api_key_id` records the key of a call, so a
//! refund gives the key its share back too.

use super::columns::{add_column, drop_column, id, index, millis, millis_null, text};
use sea_orm_migration::prelude::*;

/// Creates `api_keys` and adds `chat_usage.api_key_id`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    UserId,
    Name,
    Digest,
    Hint,
    QuotaCap,
    QuotaSpent,
    Models,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum ChatUsage {
    Table,
    ApiKeyId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ApiKeys as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(id(T::Id))
                    .col(text(T::UserId, 64))
                    .col(text(T::Name, 256))
                    .col(text(T::Digest, 64))
                    .col(text(T::Hint, 32))
                    .col(ColumnDef::new(T::QuotaCap).big_integer().null())
                    .col(ColumnDef::new(T::QuotaSpent).big_integer().not_null())
                    .col(text(T::Models, 2048))
                    .col(millis(T::CreatedAt))
                    .col(millis_null(T::LastUsedAt))
                    .col(millis_null(T::RevokedAt))
                    .to_owned(),
            )
            .await?;
        index(manager, "api_keys_digest", T::Table, &[T::Digest], true).await?;
        index(manager, "api_keys_user", T::Table, &[T::UserId], false).await?;
        add_column(
            manager,
            ChatUsage::Table,
            ColumnDef::new(ChatUsage::ApiKeyId)
                .big_integer()
                .null()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, ChatUsage::Table, ChatUsage::ApiKeyId).await?;
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await
    }
}
