//! Every order's history (issue 15 §2): `order_events`, one row per transition of an order
//! or of one of its refunds, written in the transition's transaction, with its cause and
//! what it acted on.

use super::columns::{id, index, millis, text};
use sea_orm_migration::prelude::*;

/// Creates `order_events` and its index by order.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum OrderEvents {
    Table,
    Id,
    OrderNo,
    RefundNo,
    Transition,
    ToStatus,
    Cause,
    Detail,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use OrderEvents as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(id(T::Id))
                    .col(text(T::OrderNo, 32))
                    .col(ColumnDef::new(T::RefundNo).string_len(64).null())
                    .col(text(T::Transition, 32))
                    .col(text(T::ToStatus, 32))
                    .col(text(T::Cause, 200))
                    .col(ColumnDef::new(T::Detail).text().null())
                    .col(millis(T::At))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "order_events_order_no",
            T::Table,
            &[T::OrderNo, T::Id],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OrderEvents::Table).to_owned())
            .await
    }
}
