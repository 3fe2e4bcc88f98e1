//! The `accounts` table.

use sea_orm::entity::prelude::*;

/// A user's quota account row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub total_quota: i64,
    pub surplus_quota: i64,
    /// Comma-separated, as `ModelType::join` writes it.
    pub model_types: String,
    pub status: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
