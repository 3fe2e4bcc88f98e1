//! "I have paid" (issue 14): `orders.buyer_checked_at`, when the buyer last asked for the
//! order to be checked with WeChat, so the limit of one check per interval holds across
//! instances (a conditional UPDATE of this column grants the next one).

use super::columns::{add_column, drop_column, millis_null};
use sea_orm_migration::prelude::*;

/// Adds `orders.buyer_checked_at`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum Orders {
    Table,
    BuyerCheckedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(manager, Orders::Table, millis_null(Orders::BuyerCheckedAt)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Orders::Table, Orders::BuyerCheckedAt).await
    }
}
