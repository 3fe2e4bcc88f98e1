//! Token billing (issue 13): each chat call's row keeps the tokens it used, the model's
//! report or our count, beside the quota it cost (`quota_spent`, settled at the call's end
//! for a model billed by the token).

use super::columns::{add_column, count_null, drop_column};
use sea_orm_migration::prelude::*;

/// Adds `chat_usage.prompt_tokens` and `chat_usage.completion_tokens`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum ChatUsage {
    Table,
    PromptTokens,
    CompletionTokens,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [ChatUsage::PromptTokens, ChatUsage::CompletionTokens] {
            add_column(manager, ChatUsage::Table, count_null(column)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [ChatUsage::PromptTokens, ChatUsage::CompletionTokens] {
            drop_column(manager, ChatUsage::Table, column).await?;
        }
        Ok(())
    }
}
