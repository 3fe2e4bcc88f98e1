//! "I have paid" (issue 14): `orders.buyer_checked_at`, when the buyer last asked for the
//! order to be checked with WeChat, so the limit of one check per interval holds across
//! instances (a conditional UPDATE of this column grants the next one).

use super::columns::millis_null;
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
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(millis_null(Orders::BuyerCheckedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .drop_column(Orders::BuyerCheckedAt)
                    .to_owned(),
            )
            .await
    }
}
