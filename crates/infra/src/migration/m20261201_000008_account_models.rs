//! `account_models`: one row per model an account is granted, so that a spend checks the
//! grant with an indexed equality on every backend (instead of searching the comma-joined
//! `accounts.model_types`, which needs each backend's own string function). Filled from
//! the existing accounts.

use super::columns::text;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

/// Creates `account_models` and fills it.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy, DeriveIden)]
enum AccountModels {
    Table,
    UserId,
    Model,
}

#[derive(Clone, Copy, DeriveIden)]
enum Accounts {
    Table,
    UserId,
    ModelTypes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use AccountModels as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(text(T::UserId, 64))
                    .col(text(T::Model, 64))
                    .primary_key(Index::create().col(T::UserId).col(T::Model))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let accounts = db
            .query_all_raw(
                backend.build(
                    Query::select()
                        .columns([Accounts::UserId, Accounts::ModelTypes])
                        .from(Accounts::Table),
                ),
            )
            .await?;
        for account in accounts {
            let user: String = account.try_get("", "user_id")?;
            let models: String = account.try_get("", "model_types")?;
            for model in models.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                let insert = Query::insert()
                    .into_table(T::Table)
                    .columns([T::UserId, T::Model])
                    .values_panic([user.clone().into(), model.into()])
                    .to_owned();
                manager.exec_stmt(insert).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccountModels::Table).to_owned())
            .await
    }
}
