//! `login_codes`: the codes the official account hands out, shared by every instance.

use sea_orm_migration::prelude::*;

/// Creates `login_codes` and its indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum LoginCodes {
    Table,
    Id,
    Code,
    UserId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginCodes::Table)
                    .col(
                        ColumnDef::new(LoginCodes::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(LoginCodes::Code).string_len(6).not_null())
                    .col(ColumnDef::new(LoginCodes::UserId).string_len(64).not_null())
                    .col(
                        ColumnDef::new(LoginCodes::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LoginCodes::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(LoginCodes::UsedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        // A code names one row: a redeem can never match two users. Expired and used rows
        // are deleted when codes are issued, so the space is recycled.
        manager
            .create_index(
                Index::create()
                    .name("ux_login_codes_code")
                    .table(LoginCodes::Table)
                    .col(LoginCodes::Code)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // One row per user: two concurrent issues for one user cannot both insert.
        manager
            .create_index(
                Index::create()
                    .name("ux_login_codes_user_id")
                    .table(LoginCodes::Table)
                    .col(LoginCodes::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The recycling sweep: `expires_at <= ?`.
        manager
            .create_index(
                Index::create()
                    .name("ix_login_codes_expires_at")
                    .table(LoginCodes::Table)
                    .col(LoginCodes::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginCodes::Table).to_owned())
            .await
    }
}
