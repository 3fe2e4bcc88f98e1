//! The `quota_ledger` table: every quota change, unique by (reason, ref).

use sea_orm::entity::prelude::*;

/// Why quota was credited by delivering an order.
pub const REASON_ORDER_DELIVERY: &str = "order_delivery";
/// Why quota was taken back: a refund was requested (the reference is the refund number).
pub const REASON_REFUND: &str = "refund";
/// Why taken-back quota came back: the refund closed or was refused (reference: the same).
pub const REASON_REFUND_UNDONE: &str = "refund_undone";
/// Why quota was credited by redeeming a code (the reference is the code's row id).
pub const REASON_REDEMPTION: &str = "redemption";

/// A ledger row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quota_ledger")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: String,
    pub delta: i64,
    pub reason: String,
    /// What caused the change (the order number for a delivery).
    #[sea_orm(column_name = "ref")]
    pub reference: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
