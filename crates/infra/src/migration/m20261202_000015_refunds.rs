//! Refunds (issue 14 §1): `refunds`, one row per refund (unique `refund_no`, which carries
//! the order number and the refund's place among the order's refunds), with what the
//! channel last reported and the refund job's schedule; and `orders.refunded_fen`, the
//! money that went back (refunds that succeeded), which decides PARTLY_REFUNDED / REFUNDED.

use super::columns::{add_column, drop_column, id, index, millis, millis_null, text};
use sea_orm_migration::prelude::*;

/// Creates `refunds` and adds `orders.refunded_fen`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum Refunds {
    Table,
    Id,
    RefundNo,
    OrderNo,
    UserId,
    Amount,
    QuotaBack,
    Reason,
    Forced,
    Status,
    RequestedBy,
    ChannelRefundId,
    ChannelReport,
    CreatedAt,
    UpdatedAt,
    EndedAt,
    NextCheckAt,
    LeaseUntil,
    CheckAttempts,
    LastError,
}

#[derive(Clone, Copy, DeriveIden)]
enum Orders {
    Table,
    RefundedFen,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Refunds as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(id(T::Id))
                    .col(text(T::RefundNo, 64))
                    .col(text(T::OrderNo, 32))
                    .col(text(T::UserId, 64))
                    .col(ColumnDef::new(T::Amount).big_integer().not_null())
                    .col(ColumnDef::new(T::QuotaBack).big_integer().not_null())
                    .col(text(T::Reason, 320))
                    .col(ColumnDef::new(T::Forced).boolean().not_null())
                    .col(text(T::Status, 16))
                    .col(text(T::RequestedBy, 64))
                    .col(ColumnDef::new(T::ChannelRefundId).string_len(64).null())
                    .col(ColumnDef::new(T::ChannelReport).text().null())
                    .col(millis(T::CreatedAt))
                    .col(millis(T::UpdatedAt))
                    .col(millis_null(T::EndedAt))
                    .col(millis(T::NextCheckAt))
                    .col(millis_null(T::LeaseUntil))
                    .col(ColumnDef::new(T::CheckAttempts).integer().not_null())
                    .col(ColumnDef::new(T::LastError).string_len(512).null())
                    .to_owned(),
            )
            .await?;
        index(manager, "refunds_refund_no", T::Table, &[T::RefundNo], true).await?;
        index(manager, "refunds_order_no", T::Table, &[T::OrderNo], false).await?;
        index(
            manager,
            "refunds_status_next_check",
            T::Table,
            &[T::Status, T::NextCheckAt],
            false,
        )
        .await?;
        add_column(
            manager,
            Orders::Table,
            ColumnDef::new(Orders::RefundedFen)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Orders::Table, Orders::RefundedFen).await?;
        manager
            .drop_table(Table::drop().table(Refunds::Table).to_owned())
            .await
    }
}
