//! `unmatched_payments`: verified payments that name no order of this shop, kept for an
//! operator (a restored database's lost order, or another shop on the same merchant).

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
                    .col(
                        ColumnDef::new(T::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(T::PaymentKey).string_len(96).not_null())
                    .col(ColumnDef::new(T::TransactionId).string_len(64).not_null())
                    .col(ColumnDef::new(T::OutTradeNo).string_len(64).not_null())
                    .col(ColumnDef::new(T::Mchid).string_len(32).not_null())
                    .col(ColumnDef::new(T::Appid).string_len(64).not_null())
                    .col(ColumnDef::new(T::Total).big_integer().not_null())
                    .col(ColumnDef::new(T::Currency).string_len(16).not_null())
                    .col(ColumnDef::new(T::PayerOpenid).string_len(128).null())
                    .col(ColumnDef::new(T::SuccessAt).big_integer().null())
                    .col(ColumnDef::new(T::Resource).text().not_null())
                    .col(ColumnDef::new(T::Source).string_len(16).not_null())
                    .col(ColumnDef::new(T::FirstSeenAt).big_integer().not_null())
                    .col(ColumnDef::new(T::LastSeenAt).big_integer().not_null())
                    .col(ColumnDef::new(T::TimesSeen).integer().not_null())
                    .to_owned(),
            )
            .await?;
        // One row per payment, however often WeChat sends it.
        manager
            .create_index(
                Index::create()
                    .name("ux_unmatched_payments_payment_key")
                    .table(T::Table)
                    .col(T::PaymentKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UnmatchedPayments::Table).to_owned())
            .await
    }
}
