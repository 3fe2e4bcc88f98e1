//! The initial schema: products, orders, accounts, quota_ledger, outbox.

use sea_orm_migration::prelude::*;

/// Creates every table and index.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum Products {
    Table,
    Id,
    Name,
    Description,
    Quota,
    ModelTypes,
    Price,
    Sort,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum Orders {
    Table,
    Id,
    OrderNo,
    UserId,
    ProductId,
    ProductName,
    Quota,
    ModelTypes,
    Amount,
    Status,
    CodeUrl,
    PrepayAttempts,
    CreatedAt,
    ExpireAt,
    PaidAt,
    TransactionId,
    DeliveredAt,
    ClosedAt,
    ReviewReason,
    UpdatedAt,
    NextCheckAt,
    LeaseUntil,
    CheckAttempts,
    LastError,
}

#[derive(Clone, Copy, DeriveIden)]
enum Accounts {
    Table,
    UserId,
    TotalQuota,
    SurplusQuota,
    ModelTypes,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum QuotaLedger {
    Table,
    Id,
    UserId,
    Delta,
    Reason,
    Ref,
    CreatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum Outbox {
    Table,
    Id,
    Kind,
    OrderNo,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    CreatedAt,
    DoneAt,
}

/// A BIGINT auto-increment primary key (SQLite makes it its INTEGER rowid alias).
fn serial(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .take()
}

fn big(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().take()
}

fn big_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().null().take()
}

fn int(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).integer().not_null().default(0).take()
}

fn varchar(name: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).not_null().take()
}

fn varchar_null(name: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).null().take()
}

fn text(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).text().not_null().take()
}

fn text_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).text().null().take()
}

/// An index named `name` on `table` over `cols`.
fn index<T: IntoIden + Clone + 'static>(name: &str, table: T, cols: &[T]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col.clone());
    }
    index
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(
                        ColumnDef::new(Products::Id)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(varchar(Products::Name, 128))
                    .col(text(Products::Description))
                    .col(big(Products::Quota))
                    .col(text(Products::ModelTypes))
                    .col(big(Products::Price))
                    .col(int(Products::Sort))
                    .col(ColumnDef::new(Products::Enabled).boolean().not_null())
                    .col(big(Products::CreatedAt))
                    .col(big(Products::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(serial(Orders::Id))
                    .col(varchar(Orders::OrderNo, 32))
                    .col(varchar(Orders::UserId, 64))
                    .col(big(Orders::ProductId))
                    .col(varchar(Orders::ProductName, 128))
                    .col(big(Orders::Quota))
                    .col(text(Orders::ModelTypes))
                    .col(big(Orders::Amount))
                    .col(varchar(Orders::Status, 16))
                    .col(text_null(Orders::CodeUrl))
                    .col(int(Orders::PrepayAttempts))
                    .col(big(Orders::CreatedAt))
                    .col(big(Orders::ExpireAt))
                    .col(big_null(Orders::PaidAt))
                    .col(varchar_null(Orders::TransactionId, 64))
                    .col(big_null(Orders::DeliveredAt))
                    .col(big_null(Orders::ClosedAt))
                    .col(text_null(Orders::ReviewReason))
                    .col(big(Orders::UpdatedAt))
                    .col(big(Orders::NextCheckAt))
                    .col(big_null(Orders::LeaseUntil))
                    .col(int(Orders::CheckAttempts))
                    .col(text_null(Orders::LastError))
                    .to_owned(),
            )
            .await?;
        let order_indexes = [
            index("ux_orders_order_no", Orders::Table, &[Orders::OrderNo])
                .unique()
                .take(),
            // NULLs never collide, so unpaid orders share the "no transaction" value.
            index(
                "ux_orders_transaction_id",
                Orders::Table,
                &[Orders::TransactionId],
            )
            .unique()
            .take(),
            // The leftover-order lookup of a checkout.
            index(
                "ix_orders_user_product_status",
                Orders::Table,
                &[Orders::UserId, Orders::ProductId, Orders::Status],
            ),
            // A user's order list, newest first.
            index(
                "ix_orders_user_created",
                Orders::Table,
                &[Orders::UserId, Orders::CreatedAt],
            ),
            // Background jobs: `status = ? AND next_check_at <= ?`.
            index(
                "ix_orders_status_next_check",
                Orders::Table,
                &[Orders::Status, Orders::NextCheckAt],
            ),
            // Expiry: `status IN (…) AND expire_at <= ?`.
            index(
                "ix_orders_status_expire",
                Orders::Table,
                &[Orders::Status, Orders::ExpireAt],
            ),
        ];
        for statement in order_indexes {
            manager.create_index(statement).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(
                        ColumnDef::new(Accounts::UserId)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(big(Accounts::TotalQuota))
                    .col(big(Accounts::SurplusQuota))
                    .col(text(Accounts::ModelTypes))
                    .col(varchar(Accounts::Status, 16))
                    .col(big(Accounts::CreatedAt))
                    .col(big(Accounts::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(QuotaLedger::Table)
                    .col(serial(QuotaLedger::Id))
                    .col(varchar(QuotaLedger::UserId, 64))
                    .col(big(QuotaLedger::Delta))
                    .col(varchar(QuotaLedger::Reason, 32))
                    .col(varchar(QuotaLedger::Ref, 64))
                    .col(big(QuotaLedger::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // The exactly-once guard of delivery: one row per (reason, order).
        manager
            .create_index(
                index(
                    "ux_quota_ledger_reason_ref",
                    QuotaLedger::Table,
                    &[QuotaLedger::Reason, QuotaLedger::Ref],
                )
                .unique()
                .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_quota_ledger_user_created",
                QuotaLedger::Table,
                &[QuotaLedger::UserId, QuotaLedger::CreatedAt],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(serial(Outbox::Id))
                    .col(varchar(Outbox::Kind, 32))
                    .col(varchar(Outbox::OrderNo, 32))
                    .col(text(Outbox::Payload))
                    .col(varchar(Outbox::Status, 16))
                    .col(int(Outbox::Attempts))
                    .col(big(Outbox::NextAttemptAt))
                    .col(big_null(Outbox::LeaseUntil))
                    .col(text_null(Outbox::LastError))
                    .col(big(Outbox::CreatedAt))
                    .col(big_null(Outbox::DoneAt))
                    .to_owned(),
            )
            .await?;
        // The relay's scan: `status = 'PENDING' AND next_attempt_at <= ?`.
        manager
            .create_index(index(
                "ix_outbox_status_next_attempt",
                Outbox::Table,
                &[Outbox::Status, Outbox::NextAttemptAt],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables: [DynIden; 5] = [
            Outbox::Table.into_iden(),
            QuotaLedger::Table.into_iden(),
            Accounts::Table.into_iden(),
            Orders::Table.into_iden(),
            Products::Table.into_iden(),
        ];
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
