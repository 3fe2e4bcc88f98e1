//! The `operators` table: operator accounts.

use sea_orm::entity::prelude::*;

/// An operator's row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "operators")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// A PHC string (`$argon2id$…`).
    pub password_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
