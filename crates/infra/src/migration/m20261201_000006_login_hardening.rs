//! Login codes kept only as keyed digests (to look up) and sealed copies (to send again),
//! and failed login attempts in the database so every instance counts them together.
//!
//! `login_codes` is recreated: its rows are codes of at most a day (3 minutes by default),
//! and a digest cannot be made from the plain codes without the server's key anyway.

use sea_orm_migration::prelude::*;

/// Recreates `login_codes` with `code_digest` and `code_sealed`, and creates
/// `login_attempts`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum LoginCodes {
    Table,
    Id,
    CodeDigest,
    CodeSealed,
    UserId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum LoginAttempts {
    Table,
    Id,
    Prefix,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginCodes::Table).to_owned())
            .await?;
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
                    .col(
                        ColumnDef::new(LoginCodes::CodeDigest)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LoginCodes::CodeSealed)
                            .string_len(128)
                            .not_null(),
                    )
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
        // A digest names one row: a redeem can never match two users.
        manager
            .create_index(
                Index::create()
                    .name("ux_login_codes_code_digest")
                    .table(LoginCodes::Table)
                    .col(LoginCodes::CodeDigest)
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

        manager
            .create_table(
                Table::create()
                    .table(LoginAttempts::Table)
                    .col(
                        ColumnDef::new(LoginAttempts::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(LoginAttempts::Prefix)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(LoginAttempts::At).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // One block's failures in its window: `prefix = ? AND at > ?`.
        manager
            .create_index(
                Index::create()
                    .name("ix_login_attempts_prefix_at")
                    .table(LoginAttempts::Table)
                    .col(LoginAttempts::Prefix)
                    .col(LoginAttempts::At)
                    .to_owned(),
            )
            .await?;
        // Everyone's failures in the long-code window, and the sweep: `at > ?`, `at <= ?`.
        manager
            .create_index(
                Index::create()
                    .name("ix_login_attempts_at")
                    .table(LoginAttempts::Table)
                    .col(LoginAttempts::At)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginAttempts::Table).to_owned())
            .await
    }
}
