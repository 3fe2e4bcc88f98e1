//! The `outbox` table: events written in the transaction of the change they report.

use sea_orm::entity::prelude::*;

/// The event kind written when an order is paid.
pub const KIND_ORDER_PAID: &str = "order_paid";
/// Waiting to be relayed.
pub const STATUS_PENDING: &str = "PENDING";
/// Relayed.
pub const STATUS_DONE: &str = "DONE";

/// An outbox row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub order_no: String,
    pub status: String,
    pub attempts: i32,
    /// Unix milliseconds, like every `*_at` and `*_until` column.
    pub next_attempt_at: i64,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub done_at: Option<i64>,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
