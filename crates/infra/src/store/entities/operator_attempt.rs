//! The `operator_attempts` table: failed (and in-flight) console logins.

use sea_orm::entity::prelude::*;

/// One attempt's row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "operator_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The operator name tried.
    pub name: String,
    /// The client's address block.
    pub prefix: String,
    pub at: i64,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
