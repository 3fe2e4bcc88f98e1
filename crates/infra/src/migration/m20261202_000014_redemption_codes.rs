//! Redemption codes (issue 14): `redemption_batches` (what a batch's codes are worth and
//! until when), `redemption_codes` (one row per code, by keyed digest only, taken once by a
//! conditional UPDATE of `redeemed_at`), and `redeem_attempts` (each user's recent
//! attempts, for the failure limit).

use super::columns::{id, index, millis, millis_null, text};
use sea_orm_migration::prelude::*;

/// Creates the three tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum RedemptionBatches {
    Table,
    Id,
    Count,
    Quota,
    ModelTypes,
    ExpiresAt,
    CreatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum RedemptionCodes {
    Table,
    Id,
    BatchId,
    Digest,
    ExpiresAt,
    RedeemedBy,
    RedeemedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum RedeemAttempts {
    Table,
    Id,
    UserId,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        {
            use RedemptionBatches as T;
            manager
                .create_table(
                    Table::create()
                        .table(T::Table)
                        .col(id(T::Id))
                        .col(ColumnDef::new(T::Count).integer().not_null())
                        .col(ColumnDef::new(T::Quota).big_integer().not_null())
                        .col(text(T::ModelTypes, 2048))
                        .col(millis(T::ExpiresAt))
                        .col(millis(T::CreatedAt))
                        .to_owned(),
                )
                .await?;
        }
        {
            use RedemptionCodes as T;
            manager
                .create_table(
                    Table::create()
                        .table(T::Table)
                        .col(id(T::Id))
                        .col(ColumnDef::new(T::BatchId).big_integer().not_null())
                        .col(text(T::Digest, 64))
                        // The batch's expiry beside each code: the taking UPDATE checks it
                        // without a join.
                        .col(millis(T::ExpiresAt))
                        .col(ColumnDef::new(T::RedeemedBy).string_len(64).null())
                        .col(millis_null(T::RedeemedAt))
                        .to_owned(),
                )
                .await?;
            index(
                manager,
                "redemption_codes_digest",
                T::Table,
                &[T::Digest],
                true,
            )
            .await?;
            index(
                manager,
                "redemption_codes_batch",
                T::Table,
                &[T::BatchId],
                false,
            )
            .await?;
        }
        use RedeemAttempts as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(id(T::Id))
                    .col(text(T::UserId, 64))
                    .col(millis(T::At))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "redeem_attempts_user_at",
            T::Table,
            &[T::UserId, T::At],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RedeemAttempts::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RedemptionCodes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RedemptionBatches::Table).to_owned())
            .await
    }
}
