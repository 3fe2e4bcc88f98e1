//! Login codes kept only as keyed digests (to look up) and sealed copies (to send again),
//! and failed login attempts in the database so every instance counts them together.
//!
//! `login_codes` is recreated: its rows are codes of at most a day (3 minutes by default),
//! and a digest cannot be made from the plain codes without the server's key anyway.

use super::columns::{id, index, millis, millis_null, text};
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
        use {LoginAttempts as A, LoginCodes as C};
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(id(C::Id))
                    .col(text(C::CodeDigest, 64))
                    .col(text(C::CodeSealed, 128))
                    .col(text(C::UserId, 64))
                    .col(millis(C::CreatedAt))
                    .col(millis(C::ExpiresAt))
                    .col(millis_null(C::UsedAt))
                    .to_owned(),
            )
            .await?;
        // A digest names one row: a redeem can never match two users.
        index(
            manager,
            "ux_login_codes_code_digest",
            C::Table,
            &[C::CodeDigest],
            true,
        )
        .await?;
        // One row per user: two concurrent issues for one user cannot both insert.
        index(
            manager,
            "ux_login_codes_user_id",
            C::Table,
            &[C::UserId],
            true,
        )
        .await?;
        // The recycling sweep: `expires_at <= ?`.
        index(
            manager,
            "ix_login_codes_expires_at",
            C::Table,
            &[C::ExpiresAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(id(A::Id))
                    .col(text(A::Prefix, 64))
                    .col(millis(A::At))
                    .to_owned(),
            )
            .await?;
        // One block's failures in its window: `prefix = ? AND at > ?`.
        index(
            manager,
            "ix_login_attempts_prefix_at",
            A::Table,
            &[A::Prefix, A::At],
            false,
        )
        .await?;
        // Everyone's failures in the long-code window, and the sweep: `at > ?`, `at <= ?`.
        index(manager, "ix_login_attempts_at", A::Table, &[A::At], false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginAttempts::Table).to_owned())
            .await
    }
}
