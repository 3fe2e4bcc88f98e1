//! The free trial (issue 12): `trial_calls` counts each user's free calls per trial window,
//! in the database so that every instance shares the count and a conditional UPDATE keeps
//! it at the limit under concurrency; `chat_usage.trial_window` marks a call that was one
//! of them (a refund then gives the trial call back, not quota).

use super::columns::{add_column, drop_column, millis, millis_null, text};
use sea_orm_migration::prelude::*;

/// Creates `trial_calls` and adds `chat_usage.trial_window`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum TrialCalls {
    Table,
    UserId,
    WindowStart,
    Calls,
}

#[derive(Clone, Copy, DeriveIden)]
enum ChatUsage {
    Table,
    TrialWindow,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TrialCalls as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(text(T::UserId, 64))
                    .col(millis(T::WindowStart))
                    .col(ColumnDef::new(T::Calls).integer().not_null())
                    .primary_key(Index::create().col(T::UserId).col(T::WindowStart))
                    .to_owned(),
            )
            .await?;
        add_column(
            manager,
            ChatUsage::Table,
            millis_null(ChatUsage::TrialWindow),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, ChatUsage::Table, ChatUsage::TrialWindow).await?;
        manager
            .drop_table(Table::drop().table(TrialCalls::Table).to_owned())
            .await
    }
}
