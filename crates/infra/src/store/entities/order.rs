//! The `orders` table.

use sea_orm::entity::prelude::*;

/// An order row: the domain `Order` plus the background jobs' bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub order_no: String,
    pub user_id: String,
    pub product_id: i64,
    pub product_name: String,
    pub quota: i64,
    /// Comma-separated, as `ModelType::join` writes it.
    pub model_types: String,
    /// Fen.
    pub amount: i64,
    pub status: String,
    pub code_url: Option<String>,
    pub prepay_attempts: i32,
    /// Unix milliseconds, like every `*_at` and `*_until` column.
    pub created_at: i64,
    pub expire_at: i64,
    pub paid_at: Option<i64>,
    #[sea_orm(unique)]
    pub transaction_id: Option<String>,
    pub delivered_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub review_reason: Option<String>,
    pub updated_at: i64,
    /// When a background job should next look at this order.
    pub next_check_at: i64,
    /// A job holds the order until then.
    pub lease_until: Option<i64>,
    pub check_attempts: i32,
    pub last_error: Option<String>,
    /// When the buyer last asked for the order to be checked with WeChat.
    pub buyer_checked_at: Option<i64>,
    /// Fen paid back by refunds that succeeded.
    pub refunded_fen: i64,
    /// Fen the payment under review carried (REVIEW only).
    pub review_paid_fen: Option<i64>,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
