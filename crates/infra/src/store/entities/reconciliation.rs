//! The `reconciliations` table.

use sea_orm::entity::prelude::*;

/// A day's reconciliation report.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reconciliations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `yyyy-MM-dd`, Beijing time.
    #[sea_orm(unique)]
    pub bill_date: String,
    pub run_at: i64,
    pub statement_payments: i64,
    pub statement_paid_fen: i64,
    pub statement_refunds: i64,
    pub statement_refunded_fen: i64,
    pub our_payments: i64,
    pub our_paid_fen: i64,
    pub our_refunds: i64,
    pub our_refunded_fen: i64,
    pub confirmed: i64,
    pub refunds_settled: i64,
    /// The differences, a JSON array of `{kind, orderNo, refundNo, detail, action}`.
    pub differences: String,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
