//! The `refunds` table.

use sea_orm::entity::prelude::*;

/// A refund row: the domain `Refund` plus the refund job's bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refunds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub refund_no: String,
    pub order_no: String,
    pub user_id: String,
    /// Fen.
    pub amount: i64,
    pub quota_back: i64,
    pub reason: String,
    pub forced: bool,
    pub status: String,
    pub requested_by: String,
    pub channel_refund_id: Option<String>,
    /// What the channel last reported, exactly as verified (JSON).
    pub channel_report: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub ended_at: Option<i64>,
    pub next_check_at: i64,
    pub lease_until: Option<i64>,
    pub check_attempts: i32,
    pub last_error: Option<String>,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
