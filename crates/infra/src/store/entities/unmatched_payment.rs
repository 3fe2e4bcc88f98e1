//! The `unmatched_payments` table: verified payments that name no order of this shop.

use sea_orm::entity::prelude::*;

/// An unmatched payment row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "unmatched_payments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The transaction id, or `out_trade_no:{…}` for a payment without one; unique.
    pub payment_key: String,
    pub transaction_id: String,
    pub out_trade_no: String,
    pub mchid: String,
    pub appid: String,
    /// Fen, as reported.
    pub total: i64,
    pub currency: String,
    pub payer_openid: Option<String>,
    /// Unix milliseconds, like every `*_at` column.
    pub success_at: Option<i64>,
    /// The payment as the channel reported it (JSON).
    pub resource: String,
    /// `notify` or `query`: how it came first.
    pub source: String,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub times_seen: i32,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
