//! Reconciliation (issue 14 §3): `reconciliations`, one report per Beijing-time day (its
//! counts and sums, and its differences as JSON), and the indexes its day scans use
//! (`orders.paid_at`, `refunds.created_at`).

use super::columns::{id, index, millis, text};
use sea_orm_migration::prelude::*;

/// Creates `reconciliations` and the two indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum Reconciliations {
    Table,
    Id,
    BillDate,
    RunAt,
    StatementPayments,
    StatementPaidFen,
    StatementRefunds,
    StatementRefundedFen,
    OurPayments,
    OurPaidFen,
    OurRefunds,
    OurRefundedFen,
    Confirmed,
    RefundsSettled,
    Differences,
}

#[derive(Clone, Copy, DeriveIden)]
enum Orders {
    Table,
    PaidAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum Refunds {
    Table,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Reconciliations as T;
        let count = |c: T| ColumnDef::new(c).big_integer().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(id(T::Id))
                    .col(text(T::BillDate, 10))
                    .col(millis(T::RunAt))
                    .col(count(T::StatementPayments))
                    .col(count(T::StatementPaidFen))
                    .col(count(T::StatementRefunds))
                    .col(count(T::StatementRefundedFen))
                    .col(count(T::OurPayments))
                    .col(count(T::OurPaidFen))
                    .col(count(T::OurRefunds))
                    .col(count(T::OurRefundedFen))
                    .col(count(T::Confirmed))
                    .col(count(T::RefundsSettled))
                    .col(ColumnDef::new(T::Differences).text().not_null())
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "reconciliations_bill_date",
            T::Table,
            &[T::BillDate],
            true,
        )
        .await?;
        index(
            manager,
            "orders_paid_at",
            Orders::Table,
            &[Orders::PaidAt],
            false,
        )
        .await?;
        index(
            manager,
            "refunds_created_at",
            Refunds::Table,
            &[Refunds::CreatedAt],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            ("orders_paid_at", Orders::Table.into_iden()),
            ("refunds_created_at", Refunds::Table.into_iden()),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Reconciliations::Table).to_owned())
            .await
    }
}
