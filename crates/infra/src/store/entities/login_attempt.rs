//! The `login_attempts` table: failed (and in-flight) login attempts by address block.

use sea_orm::entity::prelude::*;

/// A login-attempt row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The address block, e.g. `203.0.113.0/24`.
    pub prefix: String,
    /// Unix milliseconds.
    pub at: i64,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
