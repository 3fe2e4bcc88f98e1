//! The `redemption_batches` table.

use sea_orm::entity::prelude::*;

/// A batch of redemption codes: what each is worth and until when.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "redemption_batches")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub count: i32,
    pub quota: i64,
    /// Comma-separated, as `ModelType::join` writes it.
    pub model_types: String,
    pub expires_at: i64,
    pub created_at: i64,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
