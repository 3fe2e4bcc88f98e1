//! Operators and their rights (issue 15 §1): `operators` (a name, a role, an Argon2id
//! hash), `operator_sessions` (by the token's SHA-256, with the CSRF token's), failed
//! `operator_attempts` (by name and by address block) and the append-only `audit_log`.

use super::columns::{id, index, millis, millis_null, text};
use sea_orm_migration::prelude::*;

/// Creates the four tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum Operators {
    Table,
    Id,
    Name,
    Role,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum OperatorSessions {
    Table,
    Id,
    OperatorId,
    Digest,
    CsrfDigest,
    CreatedAt,
    ExpiresAt,
    EndedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum OperatorAttempts {
    Table,
    Id,
    Name,
    Prefix,
    At,
}

#[derive(Clone, Copy, DeriveIden)]
enum AuditLog {
    Table,
    Id,
    Actor,
    Action,
    Target,
    Before,
    After,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Operators::Table)
                    .col(id(Operators::Id))
                    .col(text(Operators::Name, 32))
                    .col(text(Operators::Role, 16))
                    .col(text(Operators::PasswordHash, 256))
                    .col(millis(Operators::CreatedAt))
                    .col(millis(Operators::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "operators_name",
            Operators::Table,
            &[Operators::Name],
            true,
        )
        .await?;

        use OperatorSessions as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(id(S::Id))
                    .col(ColumnDef::new(S::OperatorId).big_integer().not_null())
                    .col(text(S::Digest, 64))
                    .col(text(S::CsrfDigest, 64))
                    .col(millis(S::CreatedAt))
                    .col(millis(S::ExpiresAt))
                    .col(millis_null(S::EndedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "operator_sessions_digest",
            S::Table,
            &[S::Digest],
            true,
        )
        .await?;
        index(
            manager,
            "operator_sessions_operator",
            S::Table,
            &[S::OperatorId],
            false,
        )
        .await?;

        use OperatorAttempts as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(id(A::Id))
                    .col(text(A::Name, 32))
                    .col(text(A::Prefix, 64))
                    .col(millis(A::At))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "operator_attempts_name",
            A::Table,
            &[A::Name, A::At],
            false,
        )
        .await?;
        index(
            manager,
            "operator_attempts_prefix",
            A::Table,
            &[A::Prefix, A::At],
            false,
        )
        .await?;

        use AuditLog as L;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .col(id(L::Id))
                    .col(text(L::Actor, 32))
                    .col(text(L::Action, 32))
                    .col(text(L::Target, 128))
                    .col(ColumnDef::new(L::Before).text().null())
                    .col(ColumnDef::new(L::After).text().null())
                    .col(millis(L::At))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "audit_log_actor",
            L::Table,
            &[L::Actor, L::Id],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            OperatorAttempts::Table.into_iden(),
            OperatorSessions::Table.into_iden(),
            Operators::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
