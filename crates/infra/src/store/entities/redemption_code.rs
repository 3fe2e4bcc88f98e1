//! The `redemption_codes` table.

use sea_orm::entity::prelude::*;

/// One code, by its keyed digest; `redeemed_at` is set once, by the redemption that wins.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "redemption_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub batch_id: i64,
    #[sea_orm(unique)]
    pub digest: String,
    pub expires_at: i64,
    pub redeemed_by: Option<String>,
    pub redeemed_at: Option<i64>,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
