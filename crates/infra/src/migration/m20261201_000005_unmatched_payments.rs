//! `unmatched_payments`: verified payments that name no order of this shop, kept for an
//! operator (a restored database's lost order, or another shop on the same merchant).

use super::columns::{id, index, millis, text};
use sea_orm_migration::prelude::*;

/// Creates `unmatched_payments`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum UnmatchedPayments {
    Table,
    Id,
    PaymentKey,
    TransactionId,
    OutTradeNo,
    Mchid,
    Appid,
    Total,
    Currency,
    PayerOpenid,
    SuccessAt,
    Resource,
    Source,
    FirstSeenAt,
    LastSeenAt,
    TimesSeen,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use UnmatchedPayments as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(id(T::Id))
                    .col(text(T::PaymentKey, 96))
                    .col(text(T::TransactionId, 64))
                    .col(text(T::OutTradeNo, 64))
                    .col(text(T::Mchid, 32))
                    .col(text(T::Appid, 64))
                    .col(ColumnDef::new(T::Total).big_integer().not_null())
                    .col(text(T::Currency, 16))
                    .col(ColumnDef::new(T::PayerOpenid).string_len(128).null())
                    .col(ColumnDef::new(T::SuccessAt).big_integer().null())
                    .col(ColumnDef::new(T::Resource).text().not_null())
                    .col(text(T::Source, 16))
                    .col(millis(T::FirstSeenAt))
                    .col(millis(T::LastSeenAt))
                    .col(ColumnDef::new(T::TimesSeen).integer().not_null())
                    .to_owned(),
            )
            .await?;
        // One row per payment, however often WeChat sends it.
        index(
            manager,
            "ux_unmatched_payments_payment_key",
            T::Table,
            &[T::PaymentKey],
            true,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UnmatchedPayments::Table).to_owned())
            .await
    }
}
