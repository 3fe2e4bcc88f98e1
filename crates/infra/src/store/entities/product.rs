//! The `products` table.

use sea_orm::entity::prelude::*;

/// A catalog row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub name: String,
    pub description: String,
    pub quota: i64,
    /// Comma-separated, as `ModelType::join` writes it.
    pub model_types: String,
    /// Fen.
    pub price: i64,
    pub sort: i32,
    pub enabled: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
