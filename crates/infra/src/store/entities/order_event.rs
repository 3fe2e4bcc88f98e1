//! The `order_events` table.

use sea_orm::entity::prelude::*;

/// One transition in an order's history.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "order_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_no: String,
    /// Set for a refund's transition.
    pub refund_no: Option<String>,
    pub transition: String,
    pub to_status: String,
    /// `Cause::to_text`.
    pub cause: String,
    /// What it acted on, as JSON.
    pub detail: Option<String>,
    pub at: i64,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
