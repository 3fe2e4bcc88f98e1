//! The `trial_calls` table: a user's free trial calls in one trial window.

use sea_orm::entity::prelude::*;

/// The count of one user's window.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trial_calls")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// The window's start, unix milliseconds.
    #[sea_orm(primary_key, auto_increment = false)]
    pub window_start: i64,
    pub calls: i32,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
