//! Resolving a REVIEW (issue 15): `orders.review_paid_fen`, what the payment that put the
//! order under review carried, so the whole of it can be paid back at WeChat (whose refund
//! call names the payment's total, which then is not the order's amount).

use super::columns::{add_column, count_null, drop_column};
use sea_orm_migration::prelude::*;

/// Adds `orders.review_paid_fen`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum Orders {
    Table,
    ReviewPaidFen,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(manager, Orders::Table, count_null(Orders::ReviewPaidFen)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Orders::Table, Orders::ReviewPaidFen).await
    }
}
